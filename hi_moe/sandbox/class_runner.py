"""The trusted test process of class grading: runs a ClassEval record's unittest classes against a
candidate class that lives in sandboxed children, a fresh child for each test class.

`class_checks.grade_class` starts it as `python -I -m hi_moe.sandbox.class_runner` (isolated: the
shared work dir, its cwd, is not on sys.path, so a module the candidate writes there is never
imported here) and talks the channel's line protocol to it: the first request {"job": {...}}
prepares the tests, each later {"test_class": name} is answered with that class's result. No
candidate code runs in this process: the tests, their assertions and the dataset's imports run
here, with the candidate's names bound to handles (remote_objects.py).
"""

from __future__ import annotations

import ast
import os
import sys
import traceback
import unittest

from hi_moe.sandbox.remote_objects import Remote, free_names
from hi_moe.sandbox.session import CallFailed, SandboxedProgram, short

TESTS_NAME = "test_classeval.py"
SEED = 0
"""Python's `random` in each child starts from it: the same class gets the same verdict."""


class Runner:
    """The tests of one record, ready to run class by class against the candidate's `code`."""

    def __init__(
        self,
        code: str,
        class_name: str,
        imports: str,
        test_source: str,
        class_timeout_s: float,
        kind: str,
    ) -> None:
        self.code, self.class_name = code, class_name
        self.class_timeout_s, self.kind = class_timeout_s, kind
        self.imports = compile(imports, "imports.py", "exec")
        self.tests = compile(test_source, TESTS_NAME, "exec")
        self.names = free_names(test_source) | {class_name}

    def run(self, test_class: str) -> dict:
        """The result of `test_class`, or {"ok": False, "error"} if the code does not load."""
        workdir = os.getcwd()
        with SandboxedProgram(
            self.code,
            self.class_timeout_s,
            needs=[self.class_name],
            workdir=workdir,
            libraries=True,
            kind=self.kind,
            seed=SEED,
        ) as program:
            loaded = program.start()
            if not loaded.ok:
                return {"ok": False, "error": loaded.error}
            remote = Remote(program)
            namespace = {
                "__name__": "classeval_tests",
                "__file__": os.path.join(workdir, TESTS_NAME),
            }
            try:
                exec(self.imports, namespace)
                remote.bind(self.names - namespace.keys(), namespace)
                exec(self.tests, namespace)
            except CallFailed as failure:
                return result(0, 0, failure.message)
            except Exception as exc:
                return result(0, 0, f"the tests could not be set up: {exc!r}")
            case = namespace.get(test_class)
            if not (isinstance(case, type) and issubclass(case, unittest.TestCase)):
                return result(0, 0, f"the tests have no test class {test_class}")
            outcome = unittest.TestResult()
            unittest.defaultTestLoader.loadTestsFromTestCase(case).run(outcome)
        bad = [*outcome.failures, *outcome.errors]
        wrong = len(bad) + len(outcome.unexpectedSuccesses)
        detail = remote.lost or (_describe(*bad[0]) if bad else "")
        if outcome.unexpectedSuccesses and not detail:
            detail = "a test expected to fail passed"
        return result(max(outcome.testsRun - wrong, 0), outcome.testsRun, detail, wrong)


def result(passed: int, total: int, detail: str, wrong: int = 1) -> dict:
    """A test class's reply; it passed when nothing went wrong and nothing was lost."""
    return {
        "ok": True,
        "passed": not wrong and not detail,
        "tests_passed": passed,
        "tests_total": total,
        "detail": short(detail),
    }


def _describe(test: unittest.TestCase | object, trace: str) -> str:
    name = getattr(test, "_testMethodName", str(test))
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    return f"{name}: {lines[-1] if lines else 'failed'}"


def main() -> None:
    """Serve the line protocol; what the tests print goes nowhere."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the whole process
    os.umask(0)  # the sandboxed child (another uid when we are root) may rewrite our files
    runner: Runner | None = None
    reply: dict
    for line in requests:
        request = ast.literal_eval(line.decode())
        try:
            if "job" in request:
                runner, reply = Runner(**request["job"]), {"ok": True}
            else:
                assert runner is not None, "no job before the first test class"
                reply = runner.run(request["test_class"])
        except Exception:
            reply = {"ok": False, "error": short(traceback.format_exc(limit=1).strip())}
        replies.write(repr(reply).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    main()
