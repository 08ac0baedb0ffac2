"""Conditional edges: the monitor's decisions, the fan-out to specialists, self-correction."""

from __future__ import annotations

from typing import Literal

from langgraph.types import Send

from graph.state import SpecialistInput, State


def after_monitor(state: State) -> Literal["architect", "dispatcher", "finalize"]:
    if state.decision in ("plan", "direct", "replan"):
        return "architect"
    if state.decision in ("continue", "reroute"):
        return "dispatcher"
    return "finalize"


def to_specialists(state: State) -> list[Send]:
    """One Send per chosen specialist: the same subtask runs on each in parallel."""
    assert state.task is not None and state.subtask is not None
    subtask = state.subtask
    return [
        Send(
            "specialist",
            SpecialistInput(
                kind=state.task.kind,
                part=state.task.part(subtask.part),
                subtask=subtask,
                specialist=name,
                try_index=state.try_index,
                interfaces=subtask.interfaces,
                previous=state.previous_attempt,
                whole_task=state.task if subtask.whole else None,
                class_name=state.task.class_name,
            ),
        )
        for name in subtask.specialists
    ]


def after_select(state: State) -> list[Send] | Literal["monitor"]:
    """Settled goes up to the monitor; otherwise retry the subtask with the failure feedback."""
    if state.subtask is None:
        return "monitor"
    return to_specialists(state)
