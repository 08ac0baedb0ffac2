"""Child-process side of the sandbox: runs a candidate against tests, reports JSON on its own fd.

Invoked as `python -I test_runner.py` with a JSON job on stdin:
{"verdict_fd": int, "mode": "tests" | "check" | "program", "code": str, "entry_point": str,
 "tests": [{"call": str, "expected": str}], "check": str, "per_test_timeout": float}
The candidate's own output goes to a captured buffer, never to the verdict channel.
"""

import ast
import contextlib
import io
import json
import os
import signal
import sys
import traceback

MESSAGE_CHARS = 300


class TestTimeout(BaseException):
    """Raised by the alarm when one test runs too long (not catchable as Exception)."""


def on_alarm(signum, frame):
    raise TestTimeout()


def short(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def error_message(code: str) -> str:
    """The current exception and the candidate's line that raised it; no harness frames."""
    kind, error, trace = sys.exc_info()
    frames = [f for f in traceback.extract_tb(trace) if f.filename == "solution.py"]
    lines, where = code.splitlines(), ""
    if frames and 0 < (frames[-1].lineno or 0) <= len(lines):
        where = f" (line {frames[-1].lineno}: {lines[frames[-1].lineno - 1].strip()})"
    return short(f"{kind.__name__}: {error}{where}")


PLAIN_TYPES = (str, bytes, int, float, complex, bool, type(None))


def plain(value, depth: int = 0) -> bool:
    """Built of the literal types only (exact types, all the way down), so `==` cannot be faked."""
    if depth > 50:
        return False
    if type(value) in PLAIN_TYPES:
        return True
    if type(value) in (list, tuple, set, frozenset):
        return all(plain(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(plain(k, depth + 1) and plain(v, depth + 1) for k, v in value.items())
    return False


def is_number(value) -> bool:
    """An exact int or float (not bool, not a subclass that could fake its value)."""
    return type(value) in (int, float)


def run_tests(namespace: dict, job: dict) -> list:
    results = []
    for test in job["tests"]:
        expected = ast.literal_eval(test["expected"])
        signal.setitimer(signal.ITIMER_REAL, job["per_test_timeout"])
        try:
            got = eval(test["call"], namespace)
            signal.setitimer(signal.ITIMER_REAL, 0)
            same = plain(got) and type(got) is type(expected) and got == expected
            if not same and is_number(expected) and is_number(got):
                same = abs(float(got) - float(expected)) < 1e-9
            status = "passed" if same else "failed"
            message = "" if same else short(f"expected {expected!r}, got {got!r}")
        except TestTimeout:
            status, message = "timeout", "timed out"
        except Exception:
            signal.setitimer(signal.ITIMER_REAL, 0)
            status, message = "error", error_message(job["code"])
        results.append({"call": test["call"], "status": status, "message": message})
    return results


def main() -> None:
    job = json.loads(sys.stdin.read())
    verdict = os.fdopen(job["verdict_fd"], "w")
    signal.signal(signal.SIGALRM, on_alarm)
    captured = io.StringIO()
    namespace: dict = {"__name__": "candidate"}
    report: dict = {"ran_ok": True, "error": "", "results": [], "stdout": ""}
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        try:
            exec(compile(job["code"], "solution.py", "exec"), namespace)
            if job["mode"] == "tests":
                if job["entry_point"] not in namespace:
                    raise NameError(f"the code does not define {job['entry_point']}()")
                report["results"] = run_tests(namespace, job)
            elif job["mode"] == "check":
                exec(compile(job["check"], "check.py", "exec"), namespace)
                namespace["check"](namespace[job["entry_point"]])
        except BaseException:
            report["ran_ok"] = False
            report["error"] = error_message(job["code"])
    report["stdout"] = captured.getvalue()[-2000:]
    verdict.write(json.dumps(report))
    verdict.flush()


if __name__ == "__main__":
    main()
