"""A candidate's verdict on visible tests: what the validator, the baselines and the benchmarks
record of an answer (tests passed, whether it ran, feedback for a retry)."""

from __future__ import annotations

from graph.state import Attempt, Candidate, Part
from hi_moe.sandbox.checks import check_function, numeric_answer, run_program

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


def check_code(candidate: Candidate, part: Part, module: str, timeout_s: float) -> Attempt:
    code = module + candidate.code
    report = check_function(code, part.name, part.visible_tests, timeout_s)
    if not report.ran_ok:
        feedback = f"the code failed to run: {report.error}"
    else:
        failing = [r for r in report.results if r.status != "passed"]
        feedback = "\n".join(f"{r.call}: {r.status}: {r.message}" for r in failing[:3])
    return Attempt(
        **candidate.model_dump(),
        tests_passed=report.passed,
        tests_total=len(part.visible_tests),
        ran_ok=report.ran_ok,
        feedback=feedback[:FEEDBACK_CHARS],
    )
