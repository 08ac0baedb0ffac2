"""Optional backend (HI_MOE_SANDBOX=modal): the same child and protocol, in a Modal Sandbox.

`modal_command` is pure and unit-tested offline; `ModalChild` is the thin adapter that uses it.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass

from hi_moe.sandbox.channel import ChildGone, ChildTimeout, parse_reply
from hi_moe.sandbox.isolation import CHILD_SOURCE

MODAL_APP = "hi-moe-sandbox"
PYTHON_VERSION = "3.11"
STARTUP_S = 60


@dataclass(frozen=True)
class ModalCommand:
    """Keyword arguments of `modal.Sandbox.create` (besides app and image) and the exec argv."""

    create: dict
    exec_args: tuple[str, ...]


def modal_command(timeout_s: float) -> ModalCommand:
    """A network-less, one-CPU, 1 GiB sandbox living just past the check's timeout."""
    return ModalCommand(
        create={
            "timeout": math.ceil(timeout_s) + STARTUP_S,
            "block_network": True,
            "cpu": 1.0,
            "memory": 1024,
            "workdir": "/tmp",
        },
        exec_args=("python", "-I", "-S", "-c", CHILD_SOURCE),
    )


class ModalChild:
    """The child running in a fresh Modal Sandbox; replies are read by a thread into a queue."""

    def __init__(self, timeout_s: float) -> None:
        import modal  # lazy: heavy, the Modal backend only

        command = modal_command(timeout_s)
        app = modal.App.lookup(MODAL_APP, create_if_missing=True)
        image = modal.Image.debian_slim(python_version=PYTHON_VERSION)
        self._sandbox = modal.Sandbox.create(app=app, image=image, **command.create)
        self._process = self._sandbox.exec(*command.exec_args, text=False, bufsize=1)
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._process.stdout:
            self._lines.put(line.rstrip(b"\n"))
        self._lines.put(None)

    def request(self, message: dict, deadline: float) -> dict:
        self._process.stdin.write(repr(message).encode() + b"\n")
        self._process.stdin.drain()
        try:
            line = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise ChildTimeout() from None
        if line is None:
            raise ChildGone(self._process.poll())
        return parse_reply(line)

    def close(self) -> None:
        self._sandbox.terminate()
