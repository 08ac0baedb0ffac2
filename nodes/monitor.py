"""Progress Monitor: opens the run, then after every settled subgoal decides what happens next.

Hard facts (everything solved, budget spent, nothing left) decide alone; when a real choice
remains (a subgoal failed), the monitor model chooses among the allowed decisions only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from langgraph.runtime import Runtime
from pydantic import BaseModel

from graph.context import Context
from graph.state import Decision, ProgressReport, State, Subgoal
from hi_moe.problems import get_problem
from hi_moe.prompting import render
from nodes.support import context_of, llm_update, tier_calls

log = logging.getLogger(__name__)
EXAMPLE = '{"decision": "replan", "reason": "the approach failed its tests twice"}'


class MonitorVerdict(BaseModel):
    decision: Literal["continue", "replan", "give_up"]
    reason: str


@dataclass(frozen=True)
class Assessment:
    """What the facts allow: one decision means no choice is left."""

    allowed: list[Decision]
    reason: str
    next_subgoal: Subgoal | None
    replans_left: int


def pending_subgoals(state: State) -> list[Subgoal]:
    """Subgoals of the current plan not yet settled in this plan version nor solved before."""
    assert state.plan is not None
    solved = {o.part for o in state.outcomes if o.status == "success"}
    settled = {o.subgoal_id for o in state.outcomes if o.plan_version == state.plan.version}
    return [g for g in state.plan.subgoals if g.part not in solved and g.id not in settled]


def assess(state: State, context: Context) -> Assessment:
    """The decisions the facts allow after the latest outcome."""
    assert state.plan is not None and state.task is not None
    pending = pending_subgoals(state)
    next_goal = pending[0] if pending else None
    replans_left = context.max_replans - (state.plan.version - 1)
    solved = {o.part for o in state.outcomes if o.status == "success"}
    if solved >= {p.name for p in state.task.parts}:
        return Assessment(["done"], "every part passed its visible tests", None, replans_left)
    if state.usage.total_tokens >= context.token_budget:
        reason = f"token budget spent ({state.usage.total_tokens} >= {context.token_budget})"
        return Assessment(["give_up"], reason, None, replans_left)
    last = state.outcomes[-1]
    if last.status == "success" and next_goal is not None:
        return Assessment(["continue"], f"part {last.part} solved", next_goal, replans_left)
    options: list[tuple[Decision, bool]] = [
        ("continue", next_goal is not None),
        ("replan", replans_left > 0),
        ("give_up", True),
    ]
    allowed = [decision for decision, possible in options if possible]
    return Assessment(allowed, f"part {last.part}: {last.summary}", next_goal, replans_left)


def ask_monitor(state: State, runtime: Runtime[Context], facts: Assessment) -> dict:
    """Let the monitor model choose among the allowed decisions (rules are the fallback)."""
    context = context_of(runtime)
    assert state.plan is not None and state.task is not None
    calls = tier_calls(runtime, "monitor", context.monitor_model, context.temperature)
    solved = {o.part for o in state.outcomes if o.status == "success"}
    messages = render(
        context.monitor_prompt,
        context.prompt_token_cap,
        title=state.task.title or state.task.problem_id,
        plan_version=state.plan.version,
        replans_left=facts.replans_left,
        tokens_used=state.usage.total_tokens,
        token_budget=context.token_budget,
        parts_solved=len(solved),
        parts_total=len(state.task.parts),
        outcomes="\n".join(f"- {o.part}: {o.summary}" for o in state.outcomes[-3:]),
        allowed=", ".join(facts.allowed),
    )
    verdict = calls.json(messages, MonitorVerdict, EXAMPLE)
    if verdict is not None and verdict.decision in facts.allowed:
        decision, reason, by_model = verdict.decision, verdict.reason[:300], True
    else:
        decision = "replan" if "replan" in facts.allowed else facts.allowed[0]
        by_model = False
        reason = f"fallback rule after an unusable monitor reply; {facts.reason}"
        log.warning("monitor: %s", reason)
    return {**llm_update(calls), **decide(state, decision, reason, facts, by_model)}


def decide(
    state: State, decision: Decision, reason: str, facts: Assessment, by_model: bool = False
) -> dict:
    assert state.plan is not None
    report = ProgressReport(
        decision=decision, reason=reason, plan_version=state.plan.version, by_model=by_model
    )
    update: dict = {"decision": decision, "progress": [report]}
    if decision == "continue" and facts.next_subgoal is not None:
        update["current_subgoal"] = facts.next_subgoal.id
    return update


def node(state: State, runtime: Runtime[Context]) -> dict:
    if state.plan is None:
        if state.task is None and not state.problem_id:
            raise ValueError("the input needs a problem_id or a task")
        task = state.task or get_problem(state.problem_id).visible_task()
        report = ProgressReport(decision="plan", reason="new task: ask for a plan", plan_version=0)
        return {"task": task, "decision": "plan", "progress": [report]}
    facts = assess(state, context_of(runtime))
    if len(facts.allowed) == 1:
        return decide(state, facts.allowed[0], facts.reason, facts)
    return ask_monitor(state, runtime, facts)
