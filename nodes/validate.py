"""Validator: runs every candidate of the round against the part's visible tests.

A candidate runs beside the code of the parts already solved, so a part may call them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import Attempt, Candidate, Part, State
from hi_moe.sandbox.checks import check_function, numeric_answer, run_program
from nodes.assembly import solved_module
from nodes.support import context_of

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


def node(state: State, runtime: Runtime[Context]) -> dict:
    assert state.task is not None and state.subtask is not None
    timeout = context_of(runtime).test_timeout_s
    part = next(p for p in state.task.parts if p.name == state.subtask.part)
    module = solved_module(state, exclude=part.name)

    def check(candidate: Candidate) -> Attempt:
        if state.task.kind == "math":
            return check_math(candidate, timeout)
        return check_code(candidate, part, module, timeout)

    with ThreadPoolExecutor(max_workers=max(len(state.candidates), 1)) as pool:
        attempts = list(pool.map(check, state.candidates))
    return {"attempts": attempts, "candidates": None}
