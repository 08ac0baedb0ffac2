"""A candidate's verdict on visible tests: what the validator, the baselines and the benchmarks
record of an answer (tests passed, whether it ran, feedback for a retry)."""

from __future__ import annotations

import ast

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


def check_code(candidate: Candidate, part: Part, module: str, timeout_s: float) -> Attempt:
    """The part's visible tests on the module with the candidate, plus one check per function
    its statement says it must call."""
    code = module + candidate.code
    report = check_function(code, part.name, part.visible_tests, timeout_s)
    missing = uncalled(candidate.code, part.calls)
    if not report.ran_ok:
        feedback = f"the code failed to run: {report.error}"
    else:
        failing = [r for r in report.results if r.status != "passed"]
        lines = [f"{r.call}: {r.status}: {r.message}" for r in failing[:3]]
        lines += [f"`{part.name}` does not call `{name}` as its statement says" for name in missing]
        feedback = "\n".join(lines)
    return Attempt(
        **candidate.model_dump(),
        tests_passed=report.passed + len(part.calls) - len(missing),
        tests_total=len(part.visible_tests) + len(part.calls),
        ran_ok=report.ran_ok,
        feedback=feedback[:FEEDBACK_CHARS],
    )
