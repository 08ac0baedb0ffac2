"""Untrusted side of the sandbox: loads the candidate's code, then serves calls to its functions.

Run as `python -I -S -c <this file's text>` inside the isolation; imports only builtin modules, so
it starts fast. Each request is one line on stdin holding a Python literal dict written by the
trusted parent; each reply is one line `repr(dict)` on the original stdout. The first request
loads the code: {"code", "name" (the module's __name__), "program" (a clean sys.exit ends it
well), "needs" (functions it must define), "limits" (resource limits by name)}; every later one
is a call {"name", "args", "kwargs"}, answered with {"ok": True, "value": repr(result)} or
{"ok": False, "error": message}.

Before any candidate code runs, fds 0-2 point at /dev/null and print() goes to a bounded in-memory
capture, so the candidate's output never mixes with replies. The child never sees an expected value
and gives no verdict: the parent compares what it returns.
"""

import io
import os
import resource
import sys

NOBODY = 65534
MESSAGE_CHARS = 300
OUTPUT_CHARS = 4000
SOURCE_NAME = "solution.py"
REQUEST_NAMES = {"__builtins__": {}, "inf": float("inf"), "nan": float("nan")}


class Capture(io.TextIOBase):
    """Keeps the last OUTPUT_CHARS characters written; printing in a loop cannot exhaust memory."""

    def __init__(self) -> None:
        super().__init__()
        self.text = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text = (self.text + text[-OUTPUT_CHARS:])[-OUTPUT_CHARS:]
        return len(text)


def short(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def error_message(code: str) -> str:
    """The current exception and the candidate's own line that raised it; no harness frames."""
    kind, error, trace = sys.exc_info()
    assert kind is not None, "called outside an exception handler"
    line = 0
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == SOURCE_NAME:
            line = trace.tb_lineno
        trace = trace.tb_next
    try:
        detail = str(error)
    except BaseException:
        detail = "(the exception cannot be printed)"
    text = f"{kind.__name__}: {detail}" if detail else kind.__name__
    lines = code.splitlines()
    if 0 < line <= len(lines):
        text += f" (line {line}: {lines[line - 1].strip()})"
    return short(text)


def harden() -> None:
    """Be the out-of-memory killer's first choice; started as root, become uid/gid 65534 (nobody),
    which leaves no capabilities."""
    try:
        with open("/proc/self/oom_score_adj", "w") as oom_score:
            oom_score.write("1000")
    except OSError:
        pass
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def load(request: dict, namespace: dict, capture: Capture) -> dict:
    """Apply the limits, then run the candidate's module code in `namespace`."""
    for name, value in request["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    try:
        exec(compile(request["code"], SOURCE_NAME, "exec"), namespace)
    except SystemExit as stop:
        if not (request["program"] and stop.code in (None, 0)):
            return {"ok": False, "error": error_message(request["code"]), "stdout": capture.text}
    except BaseException:
        return {"ok": False, "error": error_message(request["code"]), "stdout": capture.text}
    missing = [name for name in request["needs"] if not callable(namespace.get(name))]
    error = f"the code does not define {missing[0]}()" if missing else ""
    return {"ok": not missing, "error": error, "stdout": capture.text}


def call(request: dict, namespace: dict, code: str) -> dict:
    """Call one of the candidate's functions with the parent's literal arguments."""
    try:
        function = namespace.get(request["name"])
        if not callable(function):
            raise NameError(f"the code does not define {request['name']}()")
        return {"ok": True, "value": repr(function(*request["args"], **request["kwargs"]))}
    except BaseException:
        return {"ok": False, "error": error_message(code)}


def main() -> None:
    harden()
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdout = sys.stderr = capture = Capture()
    main_pid = os.getpid()
    namespace: dict = {}
    code = ""
    for line in requests:
        request = eval(line, dict(REQUEST_NAMES))
        if "code" in request:
            namespace, code = {"__name__": request["name"]}, request["code"]
            reply = load(request, namespace, capture)
        else:
            reply = call(request, namespace, code)
        if os.getpid() != main_pid:
            os._exit(0)  # a copy the candidate forked: only the original answers
        replies.write(repr(reply).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    main()
