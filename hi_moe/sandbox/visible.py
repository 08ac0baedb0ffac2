"""A candidate's verdict on visible tests: what the validator, the baselines and the benchmarks
record of an answer (tests passed, whether it ran, feedback for a retry)."""

from __future__ import annotations

import ast

from graph.state import Attempt, Candidate, Part, TestCase
from hi_moe.sandbox.checks import CheckReport, check_function, numeric_answer, run_program
from hi_moe.sandbox.class_checks import check_class_examples

FEEDBACK_CHARS = 600


def check_math(candidate: Candidate, timeout_s: float) -> Attempt:
    report = run_program(candidate.code, timeout_s)
    answer = numeric_answer(report.stdout) if report.ran_ok else None
    if not report.ran_ok:
        feedback = f"the program failed: {report.error}"
    elif answer is None:
        feedback = "the program printed no number"
    else:
        feedback = ""
    return Attempt(
        **candidate.model_dump(),
        tests_passed=int(answer is not None),
        tests_total=1,
        ran_ok=report.ran_ok,
        feedback=feedback[:FEEDBACK_CHARS],
    )


def uncalled(code: str, names: list[str]) -> list[str]:
    """The functions of `names` that no code outside their own definition calls."""
    if not names:
        return []
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return list(names)
    called = set()
    for node in tree.body:
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                own = isinstance(node, ast.FunctionDef) and node.name == call.func.id
                if not own:
                    called.add(call.func.id)
    return [name for name in names if name not in called]


def failure_lines(report: CheckReport) -> list[str]:
    """Why the code did not run, else its first failing tests."""
    if not report.ran_ok:
        return [f"the code failed to run: {report.error}"]
    failing = [r for r in report.results if r.status != "passed"]
    return [f"{r.call}: {r.status}: {r.message}" for r in failing[:3]]


def check_class_code(
    candidate: Candidate, module: str, class_name: str, tests: list[TestCase], timeout_s: float
) -> Attempt:
    """`tests` (docstring examples of the class's methods) on `module`, the class assembled
    with the candidate's method."""
    report = check_class_examples(module, class_name, tests, timeout_s)
    return Attempt(
        **candidate.model_dump(),
        tests_passed=report.passed,
        tests_total=len(tests),
        ran_ok=report.ran_ok,
        feedback="\n".join(failure_lines(report))[:FEEDBACK_CHARS],
    )


def check_code(candidate: Candidate, part: Part, module: str, timeout_s: float) -> Attempt:
    """The part's visible tests on the module with the candidate, plus one check per function
    its statement says it must call."""
    code = module + candidate.code
    report = check_function(code, part.name, part.visible_tests, timeout_s)
    missing = uncalled(candidate.code, part.calls)
    lines = failure_lines(report)
    if report.ran_ok:
        lines += [f"`{part.name}` does not call `{name}` as its statement says" for name in missing]
    feedback = "\n".join(lines)
    return Attempt(
        **candidate.model_dump(),
        tests_passed=report.passed + len(part.calls) - len(missing),
        tests_total=len(part.visible_tests) + len(part.calls),
        ran_ok=report.ran_ok,
        feedback=feedback[:FEEDBACK_CHARS],
    )
