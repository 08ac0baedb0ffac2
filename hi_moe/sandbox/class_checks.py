"""Verdicts on a candidate class (ClassEval): its hidden unittest classes and its visible
docstring examples, computed on the trusted side, never in the candidate.

The class lives in a sandboxed child; trusted code uses it through handles (remote_objects.py),
so the candidate can neither see expected values nor decide a comparison. `grade_class` runs the
unittest classes in a trusted test process of their own (class_runner.py), a fresh child per test
class, the child's work dir shared with that process so the tests read the files the class writes.
A test class whose child or test process hangs, dies or garbles a reply fails with the reason, and
the next one starts afresh. `check_class_examples` evaluates the examples here, in this process.
"""

from __future__ import annotations

import ast
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from graph.state import TestCase
from hi_moe.sandbox.channel import (
    BadReply,
    ChildError,
    ChildGone,
    ChildTimeout,
    LineProcess,
    host_workdir,
)
from hi_moe.sandbox.checks import MIN_TEST_TIMEOUT_S, CheckReport, TestResult, describe
from hi_moe.sandbox.class_runner import SEED
from hi_moe.sandbox.isolation import isolation, strongest
from hi_moe.sandbox.literals import matches
from hi_moe.sandbox.remote_objects import NO_VALUE, Remote, free_names
from hi_moe.sandbox.session import CallFailed, SandboxedProgram, short
from hi_moe.sandbox.values import decode

RUNNER = [sys.executable, "-I", "-m", "hi_moe.sandbox.class_runner"]
RUNNER_GRACE_S = 10.0
"""What a test class may take beyond its own limit before its test process is stopped (starting
that process and the child, importing the libraries)."""


@dataclass(frozen=True)
class TestClassResult:
    __test__ = False
    """Not a pytest test class, though its name starts with Test."""

    passed: bool
    tests_passed: int
    tests_total: int
    detail: str = ""


@dataclass
class ClassReport:
    """The unittest classes' results, or why the candidate's code could not run."""

    ran_ok: bool
    error: str = ""
    results: dict[str, TestClassResult] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.ran_ok and all(r.passed for r in self.results.values())


def local_isolation() -> str:
    """The isolation in effect, or the strongest local one under Modal: the child must share a
    work dir with trusted code here and see the venv's libraries."""
    kind = isolation()
    return strongest() if kind == "modal" else kind


def _failed(names: Sequence[str], reason: str) -> dict[str, TestClassResult]:
    return {name: TestClassResult(False, 0, 0, short(reason)) for name in names}


def _setup_error(imports: str, test_source: str) -> str:
    """Why the dataset's imports or tests cannot be run here, if they cannot."""
    try:
        statements = ast.parse(imports).body
        compile(test_source, "tests", "exec")
    except SyntaxError as exc:
        return f"the tests do not compile: {exc}"
    if not all(isinstance(s, ast.Import | ast.ImportFrom) for s in statements):
        return "the imports are not only import statements"
    return ""


def _lost_runner(exc: ChildError, limit_s: float) -> str:
    if isinstance(exc, ChildTimeout):
        return f"timed out after {limit_s:.3g} s (the test process was stopped)"
    if isinstance(exc, ChildGone):
        return f"the test process {exc.reason}"
    return f"the test process broke its reply channel: {exc}"


class _TestProcess:
    """The trusted test process, started on demand and again after it is stopped."""

    def __init__(self, job: dict, workdir: str) -> None:
        self.job, self.workdir = job, workdir
        self.process: LineProcess | None = None

    def run(self, test_class: str, deadline: float) -> dict:
        if self.process is None:
            self.process = LineProcess(RUNNER, self.workdir, dict(os.environ), wrapped=False)
            reply = self.process.request({"job": self.job}, deadline)
            if not reply["ok"]:
                return reply
        return self.process.request({"test_class": test_class}, deadline)

    def stop(self) -> None:
        if self.process is not None:
            self.process.close()
            self.process = None


def grade_class(
    code: str,
    class_name: str,
    imports: str,
    test_source: str,
    test_classes: list[str],
    timeout_s: float = 60.0,
) -> ClassReport:
    """Run every unittest class of `test_classes` (from `test_source`, with the dataset's
    `imports`) against the candidate module `code` defining `class_name`; `timeout_s` is shared
    evenly by the test classes."""
    if error := _setup_error(imports, test_source):
        return ClassReport(False, error, _failed(test_classes, error))
    class_timeout_s = timeout_s / max(len(test_classes), 1)
    job = {
        "code": code,
        "class_name": class_name,
        "imports": imports,
        "test_source": test_source,
        "class_timeout_s": class_timeout_s,
        "kind": local_isolation(),
    }
    deadline = time.monotonic() + timeout_s + RUNNER_GRACE_S
    results: dict[str, TestClassResult] = {}
    workdir = host_workdir()
    tests = _TestProcess(job, workdir)
    try:
        for name in test_classes:
            if time.monotonic() >= deadline:
                results[name] = TestClassResult(False, 0, 0, "not run: the time limit was used up")
                continue
            limit_s = class_timeout_s + RUNNER_GRACE_S
            try:
                reply = tests.run(name, min(deadline, time.monotonic() + limit_s))
                if not reply["ok"]:
                    error = short(str(reply.get("error", "")))
                    return ClassReport(False, error, _failed(test_classes, f"not run: {error}"))
                results[name] = TestClassResult(
                    reply["passed"] is True,
                    int(reply["tests_passed"]),
                    int(reply["tests_total"]),
                    str(reply["detail"]),
                )
            except (ChildError, KeyError, TypeError, ValueError) as exc:
                tests.stop()
                reason = _lost_runner(
                    exc if isinstance(exc, ChildError) else BadReply(exc), limit_s
                )
                results[name] = TestClassResult(False, 0, 0, reason)
    finally:
        tests.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return ClassReport(True, results=results)


def _run_example(remote: Remote, class_name: str, test: TestCase) -> TestResult:
    """One docstring example: its setup and call run here, the candidate's names bound to handles;
    the result matches a literal `expected` by type and value, any other by its text."""
    if time.monotonic() >= remote.deadline:
        return TestResult(test.call, "timeout", "not run: the time limit was used up")
    namespace: dict = {}
    try:
        remote.bind(free_names(f"{test.setup}\n{test.call}") | {class_name}, namespace)
        exec(test.setup, namespace)
        got = eval(test.call, namespace)
        shown = repr(got)
        try:
            expected = decode(test.expected)
        except ValueError:  # not a literal: the repr (or, as print shows it, the str) must match
            if test.expected.strip() in (shown.strip(), str(got).strip()):
                return TestResult(test.call, "passed")
        else:
            value = remote.plain(got)
            if value is not NO_VALUE and matches(value, expected):
                return TestResult(test.call, "passed")
    except CallFailed as failure:
        return TestResult(test.call, failure.status, failure.message)
    except Exception as exc:
        return TestResult(test.call, "error", describe(exc))
    return TestResult(test.call, "failed", short(f"expected {test.expected.strip()}, got {shown}"))


def check_class_examples(
    code: str, class_name: str, tests: Sequence[TestCase], timeout_s: float = 20.0
) -> CheckReport:
    """Load `code`, then run each visible example against `class_name`; a child that fails an
    example is replaced (the code loaded again) for the next one."""
    budget_s = max(timeout_s / max(len(tests), 1), MIN_TEST_TIMEOUT_S)
    kind = local_isolation()
    with SandboxedProgram(
        code, timeout_s, needs=[class_name], libraries=True, kind=kind, seed=SEED
    ) as program:
        loaded = program.start()
        results: list[TestResult] = []
        lost = False
        for test in tests if loaded.ok else []:
            if lost and not (reloaded := program.start()).ok:
                message = f"the program could not be restarted: {reloaded.error}"
                results.append(TestResult(test.call, "error", short(message)))
                continue
            remote = Remote(program, min(program.deadline, time.monotonic() + budget_s))
            results.append(_run_example(remote, class_name, test))
            lost = bool(remote.lost)
    return CheckReport(loaded.ok, loaded.error, results, loaded.stdout, kind)
