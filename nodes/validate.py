"""Validator: runs every candidate of the round against the part's visible tests.

A candidate runs beside the code of the parts already solved, so a part may call them; its own
copies of their functions are dropped (the built ones stay).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import Attempt, Candidate, State
from hi_moe.sandbox.visible import check_code, check_math
from nodes.assembly import solved_module, solved_others, without_functions
from nodes.runtime import context_of


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
        own = candidate.model_copy(update={"code": without_functions(candidate.code, built)})
        return check_code(own, part, module, timeout)

    with ThreadPoolExecutor(max_workers=max(len(state.candidates), 1)) as pool:
        attempts = list(pool.map(check, state.candidates))
    return {"attempts": attempts, "candidates": None}
