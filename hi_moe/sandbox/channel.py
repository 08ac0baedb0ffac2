"""A sandboxed child process and the line protocol to it, with deadlines and a reply size cap.

Requests are `repr(dict)` lines on the child's stdin; replies are literal dict lines on its stdout,
parsed with `ast.literal_eval`, never `eval`. Nothing the child sends can run code here.
"""

from __future__ import annotations

import ast
import contextlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Protocol

from hi_moe.sandbox.isolation import SAFE_ENV, command

MAX_REPLY_BYTES = 1 << 20
NOBODY = 65534
EXIT_GRACE_S = 1.0


class ChildError(Exception):
    """The child did not answer a request properly."""


class ChildTimeout(ChildError):
    """No reply before the deadline."""


class ChildGone(ChildError):
    """The child exited (or closed its reply channel); `reason` says how, e.g. "exited (0)"."""

    def __init__(self, status: int | None, wrapped: bool = False) -> None:
        self.reason = exit_reason(status, wrapped)
        super().__init__(f"the program {self.reason}")


class BadReply(ChildError):
    """The reply is not a literal dict with a boolean "ok", or is larger than 1 MiB."""


class Child(Protocol):
    def request(self, message: dict, deadline: float) -> dict: ...

    def close(self) -> None: ...


def exit_reason(status: int | None, wrapped: bool) -> str:
    """How a process ended; a wrapper (bwrap, unshare) reports death by signal N as 128 + N."""
    if status is None:
        return "stopped answering"
    signum = -status if status < 0 else status - 128 if wrapped and status > 128 else 0
    if not signum:
        return f"exited ({status})"
    try:
        return f"was killed by {signal.Signals(signum).name}"
    except ValueError:
        return f"was killed by signal {signum}"


def parse_reply(line: bytes) -> dict:
    """One reply line as a dict; BadReply if it is oversized or not the expected shape."""
    if len(line) > MAX_REPLY_BYTES:
        raise BadReply("the reply is larger than 1 MiB")
    try:
        reply = ast.literal_eval(line.decode())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise BadReply(f"malformed reply ({type(exc).__name__})") from exc
    if type(reply) is not dict or type(reply.get("ok")) is not bool:
        raise BadReply("malformed reply")
    return reply


def _wait(fd: int, event: int, deadline: float) -> None:
    poller = select.poll()
    poller.register(fd, event)
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not poller.poll(remaining * 1000):
        raise ChildTimeout()


def _children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def host_workdir() -> str:
    """A fresh host work dir the child (uid 65534 when we are root) may write to; others may enter
    it (bubblewrap, left without capabilities, changes into it before the child drops to 65534)."""
    path = tempfile.mkdtemp(prefix="hi-moe-")
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)
        os.chmod(path, 0o755)
    return path


class LineProcess:
    """A process answering each request line with one reply line, in a new session; closing
    kills it (and, if `wrapped` in bubblewrap or unshare, everything in its PID namespace)."""

    def __init__(self, argv: list[str], cwd: str, env: dict[str, str], wrapped: bool) -> None:
        self._wrapped = wrapped
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None  # both opened as pipes
        self._stdin = stdin.fileno()
        self._stdout = stdout.fileno()
        os.set_blocking(self._stdin, False)
        os.set_blocking(self._stdout, False)
        self._buffer = bytearray()

    def request(self, message: dict, deadline: float) -> dict:
        """Send `message`, return the reply; ChildError if none comes by `deadline`."""
        data = memoryview(repr(message).encode() + b"\n")
        while data:
            _wait(self._stdin, select.POLLOUT, deadline)
            try:
                data = data[os.write(self._stdin, data) :]
            except BrokenPipeError:
                raise self._gone(deadline) from None
        return parse_reply(self._read_line(deadline))

    def _read_line(self, deadline: float) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_REPLY_BYTES:
                raise BadReply("the reply is larger than 1 MiB")
            _wait(self._stdout, select.POLLIN, deadline)
            chunk = os.read(self._stdout, 1 << 16)
            if not chunk:
                raise self._gone(deadline)
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def _gone(self, deadline: float) -> ChildGone:
        """The child closed its end: give it a moment to finish exiting, then report its status."""
        grace = min(EXIT_GRACE_S, max(deadline - time.monotonic(), 0.05))
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(grace)
        self.close()
        return ChildGone(self._process.returncode, self._wrapped)

    def close(self) -> None:
        """Kill everything the child started.

        Under bubblewrap or unshare, the wrapper's child is the init of a PID namespace: killing it
        ends every process in the namespace before the wrapper exits, so when this returns they are
        all gone (a fork bomb's process slots are free again). Without a namespace, the child's
        process group is killed (what left the group survives; init reaps the rest later).
        """
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None  # both opened as pipes
        if stdout.closed:
            return
        if self._wrapped:
            for pid in _children(self._process.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(EXIT_GRACE_S)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        stdin.close()
        stdout.close()


class LocalChild(LineProcess):
    """The child under a local isolation. Bubblewrap gives it a tmpfs work dir and the weaker
    isolations a host temp dir of its own, unless it shares `workdir` (a host dir, not removed
    here); `libraries` lets it import the venv's third-party packages."""

    def __init__(self, kind: str, workdir: str | None = None, libraries: bool = False) -> None:
        self._workdir = None if workdir or kind == "bubblewrap" else host_workdir()
        argv = command(kind, workdir=workdir, libraries=libraries)
        try:
            super().__init__(argv, workdir or self._workdir or "/", SAFE_ENV, kind != "none")
        except OSError:
            self._remove_workdir()
            raise

    def close(self) -> None:
        """Kill everything the child started, then remove its own work dir."""
        super().close()
        self._remove_workdir()

    def _remove_workdir(self) -> None:
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
