"""Routing Dispatcher: turns the current subgoal into a subtask and picks the specialist for it.

The dispatcher model names a specialist from the fleet (constrained by the JSON schema);
a name outside the fleet or an unusable reply falls back to the fleet's default specialist.
"""

from __future__ import annotations

import logging
from typing import Literal

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, create_model

from graph.context import Context
from graph.state import State, Subtask
from hi_moe.fleet import Fleet, load_fleet
from hi_moe.prompting import render
from nodes.support import context_of, llm_update, tier_calls

log = logging.getLogger(__name__)
EXAMPLE = '{"objective": "...", "constraints": ["..."], "specialist": "python"}'


def draft_schema(fleet: Fleet) -> type[BaseModel]:
    """The dispatcher's reply schema, its `specialist` limited to the fleet's names."""
    return create_model(
        "DispatchDraft",
        objective=(str, ...),
        constraints=(list[str], Field(default_factory=list)),
        specialist=(Literal[tuple(fleet.names)], ...),
    )


def node(state: State, runtime: Runtime[Context]) -> dict:
    context = context_of(runtime)
    assert state.plan is not None
    subgoal = next(g for g in state.plan.subgoals if g.id == state.current_subgoal)
    fleet = load_fleet(context.fleet_path)
    calls = tier_calls(runtime, "dispatcher", context.dispatcher_model, context.temperature)
    earlier = [o for o in state.outcomes if o.part == subgoal.part][-1:]
    messages = render(
        context.dispatcher_prompt,
        context.prompt_token_cap,
        goal=state.plan.goal,
        strategy=state.plan.strategy,
        part=subgoal.part,
        objective=subgoal.objective,
        acceptance="; ".join(subgoal.acceptance),
        history="".join(f"Earlier try: {o.summary}\n" for o in earlier),
        specialists="\n".join(f"- {s.name}: {s.description}" for s in fleet.specialists),
    )
    draft = calls.json(messages, draft_schema(fleet), EXAMPLE)
    if draft is None:
        log.warning("dispatcher: no usable reply; routing to %s", fleet.default)
    subtask = Subtask(
        subgoal_id=subgoal.id,
        part=subgoal.part,
        objective=(draft.objective[:400] if draft else "") or subgoal.objective,
        constraints=[c[:200] for c in draft.constraints[:4]] if draft else [],
        acceptance=subgoal.acceptance,
        specialists=[draft.specialist if draft else fleet.default],
    )
    return {**llm_update(calls), "subtask": subtask, "try_index": 0, "previous_attempt": None}
