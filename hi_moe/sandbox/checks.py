"""Run untrusted candidate code against tests; the verdict is computed here, never in the candidate.

The candidate's code runs in a sandboxed child (see session.py and the modules it uses).
This trusted process evaluates each test's call with the candidate's functions replaced by
proxies: a proxy sends its literal arguments to the child and parses the literal it returns.
Expected values never leave this process, and results are compared here by type and value, so
exiting early, printing "all passed", overriding `__eq__`, patching builtins or killing processes
cannot make a test pass. A child that times out, dies or garbles its reply is replaced by a fresh
one (the code loaded again) for the remaining tests; tests still waiting when the whole time limit
is used up are reported as timeouts without running.
"""

from __future__ import annotations

import ast
import builtins
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from graph.state import TestCase
from hi_moe.sandbox.literals import matches
from hi_moe.sandbox.session import CallFailed, SandboxedProgram, short

MIN_TEST_TIMEOUT_S = 0.5
CHECK_NAME = "check.py"


@dataclass(frozen=True)
class TestResult:
    __test__ = False
    """Not a pytest test class, though its name starts with Test."""

    call: str
    status: str
    """passed, failed, error or timeout."""
    message: str = ""


@dataclass
class CheckReport:
    """What running the candidate showed: per-test results, or why it could not run."""

    ran_ok: bool
    error: str = ""
    results: list[TestResult] = field(default_factory=list)
    stdout: str = ""
    isolation: str = ""

    @property
    def passed(self) -> int:
        return sum(r.status == "passed" for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)


def _proxies(call: str, entry_point: str, candidate: SandboxedProgram, deadline: float) -> dict:
    """Proxies for the entry point and any other non-builtin name the call uses."""
    names = {
        node.id for node in ast.walk(ast.parse(call, mode="eval")) if isinstance(node, ast.Name)
    }
    wanted = {entry_point} | (names - vars(builtins).keys())
    return {name: candidate.proxy(name, deadline) for name in wanted}


def describe(exc: BaseException, source: str = "", filename: str = "") -> str:
    """`Type: message`, plus the line of `source` (compiled as `filename`) that raised it."""
    detail = str(exc)
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    lines = source.splitlines()
    linenos = [
        n
        for frame, n in traceback.walk_tb(exc.__traceback__)
        if frame.f_code.co_filename == filename
    ]
    if linenos and 0 < linenos[-1] <= len(lines):
        text += f" (line {linenos[-1]}: {lines[linenos[-1] - 1].strip()})"
    return short(text)


def _run_test(
    candidate: SandboxedProgram, test: TestCase, entry_point: str, budget_s: float
) -> TestResult:
    if time.monotonic() >= candidate.deadline:
        return TestResult(test.call, "timeout", "not run: the time limit was used up")
    deadline = time.monotonic() + budget_s
    try:
        expected = ast.literal_eval(test.expected)
        got = eval(test.call, _proxies(test.call, entry_point, candidate, deadline))
    except CallFailed as failure:
        return TestResult(test.call, failure.status, failure.message)
    except Exception as exc:
        return TestResult(test.call, "error", describe(exc))
    if matches(got, expected):
        return TestResult(test.call, "passed")
    return TestResult(test.call, "failed", short(f"expected {expected!r}, got {got!r}"))


def check_function(
    code: str, entry_point: str, tests: list[TestCase], timeout_s: float = 10.0
) -> CheckReport:
    """Load `code`, then run each test call against `entry_point`, comparing by type and value."""
    budget_s = max(timeout_s / max(len(tests), 1), MIN_TEST_TIMEOUT_S)
    with SandboxedProgram(code, timeout_s, needs=[entry_point]) as candidate:
        loaded = candidate.start()
        results = (
            [_run_test(candidate, t, entry_point, budget_s) for t in tests] if loaded.ok else []
        )
    return CheckReport(loaded.ok, loaded.error, results, loaded.stdout, candidate.isolation)


def run_program(code: str, timeout_s: float = 10.0) -> CheckReport:
    """Run a whole program (math answers); the tail of what it printed is in `stdout`."""
    with SandboxedProgram(code, timeout_s, program=True) as candidate:
        loaded = candidate.start()
    return CheckReport(loaded.ok, loaded.error, stdout=loaded.stdout, isolation=candidate.isolation)


def _check_failure(candidate: SandboxedProgram, check: str, entry_point: str) -> str | None:
    """None if the trusted `check(candidate)` passes, else why it did not."""
    namespace: dict = {"__name__": "check"}
    try:
        exec(compile(check, CHECK_NAME, "exec"), namespace)
        namespace[entry_point] = proxy = candidate.proxy(entry_point, candidate.deadline)
        namespace["check"](proxy)
    except CallFailed as failure:
        return failure.message
    except Exception as exc:
        return describe(exc, check, CHECK_NAME)
    return None


def run_check(code: str, check: str, entry_point: str, timeout_s: float = 10.0) -> CheckReport:
    """HumanEval style: the trusted `check(candidate)` runs here, with `candidate` (and the entry
    point's name in the check's namespace) a proxy to the child; `ran_ok` means it passed."""
    with SandboxedProgram(code, timeout_s, needs=[entry_point]) as candidate:
        loaded = candidate.start()
        failure = _check_failure(candidate, check, entry_point) if loaded.ok else loaded.error
    return CheckReport(
        failure is None, failure or "", stdout=loaded.stdout, isolation=candidate.isolation
    )


def numeric_answer(stdout: str) -> float | None:
    """The last number a math program printed, if any."""
    for token in reversed(stdout.replace(",", "").split()):
        try:
            return float(token.rstrip("."))
        except ValueError:
            continue
    return None


def validate_many(jobs: Sequence[Callable[[], CheckReport]], width: int = 4) -> list[CheckReport]:
    """Run independent validations (e.g. `functools.partial(check_function, ...)`), `width` at a
    time (each already runs in its own child process); the reports come back in job order."""
    with ThreadPoolExecutor(max_workers=max(width, 1)) as pool:
        return list(pool.map(lambda job: job(), jobs))
