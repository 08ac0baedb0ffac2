"""Run candidate code against tests in a child process with a timeout and a scrubbed environment.

The child reports on a verdict pipe of its own; the candidate's prints cannot reach it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from graph.state import TestCase

RUNNER = Path(__file__).with_name("test_runner.py")
SAFE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


@dataclass(frozen=True)
class TestResult:
    call: str
    status: str
    message: str = ""


@dataclass
class CheckReport:
    """What running the candidate showed: per-test results, or why it could not run."""

    ran_ok: bool
    error: str = ""
    results: list[TestResult] = field(default_factory=list)
    stdout: str = ""

    @property
    def passed(self) -> int:
        return sum(r.status == "passed" for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)


def _drain(read_fd: int, chunks: list[bytes]) -> None:
    """Read the verdict pipe to its end (in a thread, so a large verdict cannot block the child)."""
    with os.fdopen(read_fd, "rb") as verdict:
        chunks.append(verdict.read())


def _kill_group(pid: int) -> None:
    """Kill whatever is left of the child's process group (forked helpers included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, 9)


def _run_job(job: dict, timeout_s: float) -> CheckReport:
    read_fd, write_fd = os.pipe()
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="hi-moe-") as workdir:
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", str(RUNNER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=workdir,
                env=SAFE_ENV,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        reader = threading.Thread(target=_drain, args=(read_fd, chunks), daemon=True)
        reader.start()
        try:
            job_bytes = json.dumps({**job, "verdict_fd": write_fd}).encode()
            process.communicate(job_bytes, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait()
            return CheckReport(ran_ok=False, error=f"timed out after {timeout_s:g} s")
        _kill_group(process.pid)
        reader.join(max(deadline - time.monotonic(), 0.1))
    if reader.is_alive():
        return CheckReport(
            ran_ok=False, error=f"timed out after {timeout_s:g} s (a detached process lingered)"
        )
    raw = chunks[0] if chunks else b""
    if not raw:
        return CheckReport(
            ran_ok=False,
            error=f"the program exited ({process.returncode}) before the tests finished",
        )
    try:
        report = json.loads(raw)
        return CheckReport(
            ran_ok=report["ran_ok"],
            error=report["error"],
            results=[TestResult(**r) for r in report["results"]],
            stdout=report["stdout"],
        )
    except (ValueError, KeyError, TypeError):
        return CheckReport(ran_ok=False, error="the program tampered with the test report channel")


def check_function(
    code: str, entry_point: str, tests: list[TestCase], timeout_s: float = 10.0
) -> CheckReport:
    """Run `code`, then each test call against `entry_point`, comparing by value and type."""
    job = {
        "mode": "tests",
        "code": code,
        "entry_point": entry_point,
        "tests": [t.model_dump() for t in tests],
        "per_test_timeout": max(timeout_s / max(len(tests), 1), 0.5),
    }
    return _run_job(job, timeout_s)


def run_program(code: str, timeout_s: float = 10.0) -> CheckReport:
    """Run a whole program (math answers); its output is in `stdout`."""
    return _run_job({"mode": "program", "code": code, "tests": []}, timeout_s)


def run_check(code: str, check: str, entry_point: str, timeout_s: float = 10.0) -> CheckReport:
    """HumanEval style: define the solution, then call `check(entry_point)`."""
    job = {"mode": "check", "code": code, "check": check, "entry_point": entry_point, "tests": []}
    return _run_job(job, timeout_s)


def numeric_answer(stdout: str) -> float | None:
    """The last number a math program printed, if any."""
    for token in reversed(stdout.replace(",", "").split()):
        try:
            return float(token.rstrip("."))
        except ValueError:
            continue
    return None
