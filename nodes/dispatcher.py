"""Routing Dispatcher: turns the current subgoal into a subtask and picks its specialist(s).

On the first try of a direct attempt it makes no call when the router is confident: the plain
try uses neither its objective nor, then, its choice of model. Under adaptive depth it makes
none at all when every candidate runs on the same weights (the embedded model without
adapters): there is no model to choose, and the architect's subgoal is the subtask (on
HumanEval its calls after a replan were 8% of the hierarchy's tokens). A small task of several parts
(`whole_first_parts`) opens with one plain call for all of them; a later part whose function
that answer already wrote gets the written code checked instead of a call; so does a class,
whatever its size (its methods live together). A method's subtask carries the class's
constructor and the interfaces of the methods it calls.

The embedding router scores every specialist against the subtask; the dispatcher model may
name one specialist too (constrained to the fleet by the JSON schema), which adds
`dispatcher_weight` to that specialist's score before renormalising. The routing mode then
takes the best one (winner_take_all), samples one (probabilistic, seeded) or takes the top K
(ensemble, run in parallel). When the monitor reroutes a part, the specialists that already
tried it are left out. Every decision is logged with its scores.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, create_model

from graph.context import Context
from graph.state import (
    CRITERIA_KEPT,
    CRITERION_CHARS,
    OBJECTIVE_CHARS,
    Part,
    State,
    Subgoal,
    Subtask,
)
from hi_moe.adapters.meta import one_served_model
from hi_moe.llm.prompting import fragment, render
from hi_moe.llm.tier_calls import TierCalls
from hi_moe.routing.fleet import Fleet, load_fleet
from hi_moe.routing.router import choose, router_for
from nodes.assembly import relevant_interfaces, written_earlier
from nodes.class_module import class_interfaces
from nodes.runtime import context_of, current_thread_id, llm_update, routing_log, tier_calls

log = logging.getLogger(__name__)
ROUTING_TEXT_CHARS = 500


def draft_schema(fleet: Fleet) -> type[BaseModel]:
    """The dispatcher's reply schema, its `specialist` limited to the fleet's names."""
    # A Literal built at run time is a value to a type checker, not a type: hence `Any`.
    names: Any = Literal[tuple(fleet.names)]
    return create_model(
        "DispatchDraft",
        objective=(str, ...),
        constraints=(list[str], Field(default_factory=list)),
        specialist=(names, ...),
    )


def routing_text(subgoal: Subgoal, part: Part) -> str:
    """What the router embeds: the part's own statement first, then the plan's objective."""
    return f"{part.statement.strip()}\n{subgoal.objective}"[:ROUTING_TEXT_CHARS]


def candidates_for(state: State, part: str, scores: dict[str, float]) -> dict[str, float]:
    """The router's scores, renormalised over specialists not yet tried on a rerouted part."""
    if state.decision != "reroute":
        return scores
    tried = set(state.ledger[part].specialists) if part in state.ledger else set()
    kept = {name: score for name, score in scores.items() if name not in tried} or scores
    total = sum(kept.values()) or 1.0
    return {name: score / total for name, score in kept.items()}


def first_direct_try(state: State) -> bool:
    """The first attempt at a part of a direct plan (not a reroute): the plain single call."""
    assert state.plan is not None
    return state.plan.direct and state.decision in ("direct", "continue")


def whole_first(state: State, context: Context) -> bool:
    """A small task of several parts, on a direct plan: answered whole by its first call."""
    assert state.task is not None
    task = state.task
    return context.opens_whole(len(task.parts), bool(task.class_name)) and first_direct_try(state)


def ask_dispatcher(
    state: State,
    subgoal: Subgoal,
    fleet: Fleet,
    router_scores: dict[str, float],
    calls: TierCalls,
    context: Context,
) -> Any:
    """The dispatcher model's objective, constraints and preferred specialist (None: unusable)."""
    assert state.plan is not None
    earlier = [o for o in state.outcomes if o.part == subgoal.part][-1:]
    messages = render(
        context.dispatcher_prompt,
        context.prompt_token_cap,
        goal=state.plan.goal,
        strategy=state.plan.strategy,
        part=subgoal.part,
        objective=subgoal.objective,
        acceptance="; ".join(subgoal.acceptance),
        history="".join(fragment("dispatcher.earlier", summary=o.summary) for o in earlier),
        specialists="\n".join(
            f"- {s.name}: {s.description}" for s in fleet.specialists if s.name in router_scores
        ),
    )
    draft = calls.json(messages, draft_schema(fleet), fragment("dispatcher.example"))
    if draft is None:
        log.warning("dispatcher: no usable reply; routing on the router's scores alone")
    return draft


def node(state: State, runtime: Runtime[Context]) -> dict:
    context = context_of(runtime)
    assert state.plan is not None and state.task is not None
    subgoal = next(g for g in state.plan.subgoals if g.id == state.current_subgoal)
    part = state.task.part(subgoal.part)
    fleet = load_fleet(context.fleet_path)
    text = routing_text(subgoal, part)
    router = router_for(fleet, context.fleet_path, context.router_dir)
    router_scores = candidates_for(state, part.name, router.score(text))
    calls = tier_calls(runtime, "dispatcher", context.dispatcher_model, context.temperature)
    plain = first_direct_try(state)
    confident = plain and max(router_scores.values()) >= context.direct_route_score
    one_model = context.direct_first and one_served_model(context, router_scores)
    settled = confident or one_model
    draft = (
        None if settled else ask_dispatcher(state, subgoal, fleet, router_scores, calls, context)
    )
    if settled:
        why = "direct first attempt" if confident else "every candidate runs on the same weights"
        log.info("dispatcher: %s; the router's choice without a call", why)
    small = whole_first(state, context)
    whole = small and not state.outcomes
    carried = written_earlier(state, part) if small else ""
    if whole:
        log.info("dispatcher: one plain call for all %d parts first", len(state.task.parts))
    if carried:
        log.info(
            "dispatcher: %s was written by an earlier answer; checked without a call", part.name
        )
    thread_id = current_thread_id()
    rerouted = state.decision == "reroute"
    width = min(context.ensemble_k, len(router_scores)) if rerouted else context.ensemble_k
    chosen, scores = choose(
        router_scores,
        context.routing_mode,
        width,
        seed=f"{context.routing_seed}:{thread_id}:{subgoal.id}:{state.plan.version}",
        preferred=draft.specialist if draft else None,
        preference_weight=context.dispatcher_weight,
    )
    decision_id = routing_log(context.routing_log_path).record(
        thread_id, subgoal.id, text, context.routing_mode, scores, chosen
    )
    subtask = Subtask(
        subgoal_id=subgoal.id,
        part=subgoal.part,
        objective=(draft.objective[:OBJECTIVE_CHARS] if draft else "") or subgoal.objective,
        constraints=[c[:CRITERION_CHARS] for c in draft.constraints[:CRITERIA_KEPT]]
        if draft
        else [],
        acceptance=subgoal.acceptance,
        specialists=chosen,
        router_scores={name: round(scores[name], 4) for name in chosen},
        routing_id=decision_id,
        dispatch=state.dispatches + 1,
        interfaces=class_interfaces(state.task, part)
        if state.task.class_name
        else relevant_interfaces(state, part, context.max_interfaces),
        plain=plain,
        whole=whole,
        carried=carried,
    )
    return {
        **llm_update(calls),
        "subtask": subtask,
        "attempts": None,
        "dispatches": state.dispatches + 1,
        "try_index": 0,
        "previous_attempt": None,
    }
