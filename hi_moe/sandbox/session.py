"""One candidate program loaded in a sandboxed child, and calls to its functions by proxy.

A `SandboxedProgram` starts the child (local isolation or Modal), loads the code, and turns each
call into a request whose reply must be a plain literal; a child that times out, dies or garbles
a reply is dropped, and the next call starts a fresh one with the code loaded again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hi_moe.sandbox import modal_child
from hi_moe.sandbox.channel import BadReply, Child, ChildError, ChildGone, ChildTimeout, LocalChild
from hi_moe.sandbox.isolation import isolation, library_paths
from hi_moe.sandbox.literals import parse_value, plain

MESSAGE_CHARS = 300
OUTPUT_CHARS = 4000
LIMITS = {
    "RLIMIT_AS": 1 << 30,
    "RLIMIT_NPROC": 32,
    "RLIMIT_NOFILE": 64,
    "RLIMIT_FSIZE": 16 << 20,
    "RLIMIT_CORE": 0,
}
"""Resource limits the child sets on itself before running candidate code (plus RLIMIT_CPU).
RLIMIT_NPROC counts every process of the child's uid (65534 when we are root)."""
LIBRARY_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HOME": "/tmp",
}
"""Set in a child that may import the libraries: one BLAS thread, within its memory limit, and a
home dir (gensim and nltk look for one when imported)."""


class CallFailed(Exception):
    """A call to the candidate gave no usable value; `status` is error, failed or timeout."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = short(message)


@dataclass(frozen=True)
class Loaded:
    ok: bool
    error: str = ""
    stdout: str = ""


def short(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def open_child(
    kind: str, timeout_s: float, workdir: str | None = None, libraries: bool = False
) -> Child:
    if kind == "modal":
        return modal_child.ModalChild(timeout_s)
    return LocalChild(kind, workdir, libraries)


def _text(reply: dict, key: str) -> str:
    value = reply.get(key, "")
    if type(value) is not str:
        raise BadReply(f"malformed reply ({key} is not text)")
    return value


class SandboxedProgram:
    """The candidate's code loaded in a sandboxed child; restarted after a timeout or a crash.

    With `workdir`, the child's work dir is that host dir, shared with trusted code that reads and
    writes files there: the child may then create no links or special files in it (a symlink would
    send the trusted side's writes elsewhere). With `libraries`, it may import the venv's packages.
    With `seed`, Python's `random` is seeded with it before the code runs (reproducible verdicts).
    """

    def __init__(
        self,
        code: str,
        timeout_s: float,
        *,
        needs: Sequence[str] = (),
        program: bool = False,
        workdir: str | None = None,
        libraries: bool = False,
        kind: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.isolation = kind or isolation()
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        limits = {**LIMITS, "RLIMIT_CPU": math.ceil(timeout_s) + 1}
        self._load = {
            "code": code,
            "name": "__main__" if program else "candidate",
            "program": program,
            "needs": list(needs),
            "limits": limits,
            "path": library_paths() if libraries else [],
            "env": LIBRARY_ENV if libraries else {},
            "no_links": workdir is not None,
            "seed": seed,
        }
        self._where = (workdir, libraries)
        self._child: Child | None = None

    def __enter__(self) -> SandboxedProgram:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._discard()

    def _discard(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None

    def start(self) -> Loaded:
        """Start a fresh child and run the code in it."""
        self._discard()
        try:
            self._child = open_child(self.isolation, self.timeout_s, *self._where)
            reply = self._child.request(self._load, self.deadline)
            stdout = _text(reply, "stdout")[-OUTPUT_CHARS:]
            loaded = Loaded(reply["ok"], short(_text(reply, "error")), stdout)
        except ChildTimeout:
            loaded = Loaded(False, f"timed out after {self.timeout_s:g} s")
        except ChildGone as gone:
            loaded = Loaded(False, f"the program {gone.reason} before the tests finished")
        except (BadReply, OSError) as exc:
            loaded = Loaded(False, f"the sandbox failed: {exc}")
        if not loaded.ok:
            self._discard()
        return loaded

    def request(self, message: dict, deadline: float) -> dict:
        """The running child's reply to `message` by `deadline`; CallFailed (and the child dropped)
        if none comes."""
        if self._child is None:
            raise CallFailed("error", "the program is not running")
        started = time.monotonic()
        try:
            return self._child.request(message, min(deadline, self.deadline))
        except ChildError as exc:
            self._discard()
            raise _failure(exc, time.monotonic() - started) from None

    def call(self, name: str, args: tuple, kwargs: dict, deadline: float) -> object:
        """The plain literal `name(*args, **kwargs)` returned in the child; CallFailed otherwise."""
        if not (plain(args) and plain(kwargs)):
            raise CallFailed("error", "a test argument is not a plain literal value")
        if self._child is None:
            loaded = self.start()
            if not loaded.ok:
                raise CallFailed("error", f"the program could not be restarted: {loaded.error}")
        reply = self.request({"name": name, "args": list(args), "kwargs": kwargs}, deadline)
        try:
            if not reply["ok"]:
                raise CallFailed("error", _text(reply, "error"))
            return parse_value(_text(reply, "value"))
        except BadReply as exc:
            self._discard()
            raise _failure(exc, 0.0) from None
        except ValueError as exc:
            raise CallFailed("failed", f"the function's result is {exc}") from None

    def proxy(self, name: str, deadline: float) -> Callable[..., object]:
        """A stand-in for the candidate's function `name`, usable by trusted test code."""

        def call(*args: object, **kwargs: object) -> object:
            return self.call(name, args, kwargs, deadline)

        call.__name__ = name
        return call


def _failure(exc: ChildError, waited_s: float) -> CallFailed:
    if isinstance(exc, ChildTimeout):
        return CallFailed("timeout", f"timed out after {waited_s:.2g} s")
    if isinstance(exc, ChildGone):
        return CallFailed("error", f"the program {exc.reason} during the call")
    return CallFailed("failed", f"the program broke the reply channel: {exc}")
