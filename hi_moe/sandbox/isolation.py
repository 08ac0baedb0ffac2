"""Which isolation the sandbox's child runs under, and the command line that starts it there.

Strongest first: bubblewrap (own mount, PID, network, IPC and UTS namespaces; only the interpreter
and system libraries visible, read-only; a size-capped tmpfs as work dir and /tmp), then `unshare`
(own network and PID namespaces, host files visible as far as their permissions allow), then none.
When started as root, the child itself becomes uid/gid 65534 before it reads any candidate code
(see child.py), so it cannot signal our processes and the process-count limit applies.

A child may share a work dir with trusted code (class grading: the tests read the files a class
writes; it is mounted at its own path, so absolute paths agree) and may import the venv's
third-party libraries (its site-packages, read-only).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

from hi_moe.errors import UserError

log = logging.getLogger(__name__)

LOCAL_KINDS = ("bubblewrap", "unshare", "none")
SANDBOX_ENV = "HI_MOE_SANDBOX"
SAFE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
WORKDIR = "/sandbox"
PYTHON_MOUNT = "/python"
TMPFS_BYTES = 64 << 20
CHILD_SOURCE = Path(__file__).with_name("child.py").read_text()
PROBE_ERROR_CHARS = 300
"""The tail of a failed probe's output kept as the reason a sandbox kind is unusable."""
PROBE = {"code": "import json", "name": "probe", "program": True, "needs": [], "limits": {}}
WEAKNESS = {
    "unshare": "no filesystem isolation: the child sees host files its uid may read",
    "none": "no namespaces: only resource limits, a scrubbed environment and (as root) uid 65534",
}


def base_interpreter() -> Path:
    """The venv's base interpreter: the child needs only its standard library."""
    return Path(sys.base_prefix, "bin", f"python{sys.version_info.major}.{sys.version_info.minor}")


def _others_can_run(path: Path) -> bool:
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def host_interpreter() -> str:
    """The interpreter for the weaker isolations: the base one, or, when we are root and uid 65534
    cannot reach it (a root-only home), the system's interpreter of the same version."""
    base = base_interpreter()
    system = Path("/usr/bin", base.name)
    if os.geteuid() == 0 and not _others_can_run(base) and system.exists():
        return str(system)
    return str(base)


def library_paths() -> list[str]:
    """The running venv's site-packages directories: the libraries a class may import."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def _parents(path: str) -> list[str]:
    """Create the dirs above a mount point enterable by all (bubblewrap would make them 0700)."""
    args = []
    for parent in reversed(Path(path).parents[:-1]):
        if str(parent) != "/tmp":
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def bwrap_args(workdir: str | None = None, libraries: bool = False) -> list[str]:
    """As root: no user namespace (it would map the child to real root, exempt from RLIMIT_NPROC);
    keep only the capabilities the child needs to drop to uid 65534. `workdir` (a host dir) is
    the work dir instead of a tmpfs; `libraries` adds the site-packages, read-only."""
    if os.geteuid() == 0:
        namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        namespaces += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
        namespaces += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        namespaces = ["--unshare-all"]
    binds = ["--ro-bind", "/usr", "/usr"]
    for path in ("/lib", "/lib64", "/bin"):
        binds += ["--ro-bind-try", path, path]
    settings = []
    if not Path(sys.base_prefix).is_relative_to("/usr"):
        binds += ["--ro-bind", sys.base_prefix, PYTHON_MOUNT]
        # Its own libpython, not the system's one of the same name (the RUNPATH is not mounted).
        settings += ["--setenv", "LD_LIBRARY_PATH", f"{PYTHON_MOUNT}/lib"]
    for path in library_paths() if libraries else []:
        binds += [*_parents(path), "--ro-bind", path, path]
    tmpfs = []
    for path in ("/tmp",) if workdir else ("/tmp", WORKDIR):
        tmpfs += ["--size", str(TMPFS_BYTES), "--perms", "1777", "--tmpfs", path]
    work = [*_parents(workdir), "--bind", workdir, workdir] if workdir else []
    return [
        *namespaces,
        "--die-with-parent",
        "--new-session",
        *settings,
        *binds,
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *tmpfs,
        *work,
        "--chdir",
        workdir or WORKDIR,
    ]


def sandbox_interpreter() -> str:
    """The base interpreter as bubblewrap shows it (its prefix mounted at /python)."""
    base = base_interpreter()
    if Path(sys.base_prefix).is_relative_to("/usr"):
        return str(base)
    return str(PYTHON_MOUNT / base.relative_to(sys.base_prefix))


def command(
    kind: str, source: str = CHILD_SOURCE, workdir: str | None = None, libraries: bool = False
) -> list[str]:
    """The command line running the child `source` under the local isolation `kind` (for
    `workdir` and `libraries`, see `bwrap_args`; the weaker isolations see host paths anyway)."""
    if kind == "bubblewrap":
        args = bwrap_args(workdir, libraries)
        return ["bwrap", *args, sandbox_interpreter(), "-I", "-S", "-c", source]
    child = [host_interpreter(), "-I", "-S", "-c", source]
    if kind == "unshare":
        user = [] if os.geteuid() == 0 else ["--user"]
        return ["unshare", *user, "--net", "--pid", "--fork", "--kill-child", *child]
    return child


@functools.cache
def why_not(kind: str) -> str:
    """Empty if the child starts and imports the standard library under `kind`, else why not."""
    tool = {"bubblewrap": "bwrap", "unshare": "unshare"}.get(kind)
    if tool and shutil.which(tool) is None:
        return f"{tool} is not installed"
    try:
        done = subprocess.run(
            command(kind),
            input=repr(PROBE).encode() + b"\n",
            capture_output=True,
            timeout=30,
            env=SAFE_ENV,
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.stdout.startswith(b"{'ok': True"):
        return ""
    output = (done.stderr or done.stdout).decode(errors="replace").strip()
    return output[-PROBE_ERROR_CHARS:] or "no reply"


@functools.cache
def strongest() -> str:
    """The strongest local isolation that works here; logs once what is missing."""
    reasons = []
    for kind in LOCAL_KINDS:
        if not (reason := why_not(kind)):
            break
        reasons.append(f"{kind}: {reason}")
    else:
        raise UserError(f"the sandbox cannot start Python here ({'; '.join(reasons)})")
    if reasons:
        log.warning("sandbox falls back to %s (%s): %s", kind, "; ".join(reasons), WEAKNESS[kind])
    return kind


def isolation() -> str:
    """The isolation in effect: $HI_MOE_SANDBOX (bubblewrap, unshare, none or modal) if set, else
    the strongest local one that works here."""
    chosen = os.environ.get(SANDBOX_ENV, "")
    if not chosen:
        return strongest()
    if chosen == "modal":
        return chosen
    if chosen not in LOCAL_KINDS:
        raise UserError(f"{SANDBOX_ENV}={chosen!r}: use bubblewrap, unshare, none or modal")
    if reason := why_not(chosen):
        raise UserError(f"{SANDBOX_ENV}={chosen} does not work here: {reason}")
    return chosen
