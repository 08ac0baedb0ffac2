"""Finalize: assembles the solution from the settled parts (a class task: its class with each
part's chosen method) and reports how the run went."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import FinalReport, State
from nodes.assembly import chosen_outcomes
from nodes.class_module import class_module


def node(state: State, runtime: Runtime[Context]) -> dict:
    task = state.task
    assert task is not None
    chosen = chosen_outcomes(state)
    solved = sum(o is not None and o.status == "success" for o in chosen)
    status: Literal["solved", "partial", "failed"]
    if solved == len(task.parts):
        status = "solved"
    elif any(o is not None and o.tests_passed > 0 for o in chosen):
        status = "partial"
    else:
        status = "failed"
    last = state.progress[-1] if state.progress else None
    summary = f"{solved}/{len(task.parts)} parts pass their visible tests"
    if last is not None:
        summary += f"; monitor: {last.decision} ({last.reason})"
    if task.class_name:
        solution = class_module(state, chosen, {})
    else:
        solution = "\n\n".join(o.code.strip() for o in chosen if o is not None) + "\n"
    report = FinalReport(
        status=status,
        summary=summary,
        solution=solution,
        parts_solved=solved,
        parts_total=len(task.parts),
        visible_passed=sum(o.tests_passed for o in chosen if o is not None),
        visible_total=sum(
            o.tests_total if o else len(p.visible_tests)
            for o, p in zip(chosen, task.parts, strict=True)
        ),
    )
    return {"result": report}
