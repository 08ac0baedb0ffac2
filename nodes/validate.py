"""Validator: runs every candidate of the round against the part's visible tests.

A candidate runs beside the code of the parts already solved, so a part may call them; its own
copies of their functions are dropped (the built ones stay). A method of a class task runs in
the class assembled so far, on its own examples and on those of the methods already solved
there, so a method that breaks an earlier one's example fails now.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import Attempt, Candidate, Part, State
from hi_moe.problems.class_code import method_source
from hi_moe.sandbox.visible import check_class_code, check_code, check_math
from nodes.assembly import solved_module, solved_others, without_functions
from nodes.class_module import class_module
from nodes.runtime import context_of


def check_method(state: State, part: Part, candidate: Candidate, timeout_s: float) -> Attempt:
    """A class task's method in the class assembled so far, on its own examples and on those
    of the methods already solved."""
    task = state.task
    assert task is not None
    if not method_source(candidate.code, part.name, task.class_name):
        return Attempt(**candidate.model_dump(), tests_passed=0, ran_ok=False,
                       tests_total=len(part.visible_tests),
                       feedback=f"the answer defines no method `{part.name}`")  # fmt: skip
    solved = solved_others(state, exclude=part.name)
    assembled = class_module(state, list(solved), {part.name: candidate.code})
    tests = [*part.visible_tests]
    tests += [test for o in solved for test in task.part(o.part).visible_tests]
    return check_class_code(candidate, assembled, task.class_name, tests, timeout_s)


def node(state: State, runtime: Runtime[Context]) -> dict:
    assert state.task is not None and state.subtask is not None
    task = state.task
    timeout = context_of(runtime).test_timeout_s
    part = task.part(state.subtask.part)
    module = solved_module(state, exclude=part.name)
    built = {o.part for o in solved_others(state, exclude=part.name)}

    def check(candidate: Candidate) -> Attempt:
        if task.kind == "math":
            return check_math(candidate, timeout)
        if task.class_name:
            return check_method(state, part, candidate, timeout)
        own = candidate.model_copy(update={"code": without_functions(candidate.code, built)})
        return check_code(own, part, module, timeout)

    with ThreadPoolExecutor(max_workers=max(len(state.candidates), 1)) as pool:
        attempts = list(pool.map(check, state.candidates))
    return {"attempts": attempts, "candidates": None}
