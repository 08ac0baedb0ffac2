"""Progress Monitor: opens the run, then after every settled subgoal decides what happens next.

It tracks each part's rounds (visible tests passed per round of tries), the token spend against
the budget, and three signals on the latest outcome:
- stuck: the part's passes did not rise over its last `stuck_rounds` rounds;
- drift: the code no longer maps to its subgoal (it lacks the part's function, or rewrites
  other parts);
- surprise: the specialist's stated confidence is far from the fraction of tests it passed.
Hard facts decide alone. After a failed part the monitor model chooses among the actions the
facts allow (reroute to an untried specialist on other weights, replan, skip the part and
move on); the signals' recommendation is the fallback. Every decision is recorded with its
reason.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal

from langgraph.runtime import Runtime
from pydantic import BaseModel

from graph.context import Context
from graph.state import (
    GOAL_CHARS,
    Decision,
    OutcomeReport,
    ProgressReport,
    Signal,
    State,
    Subgoal,
    Task,
)
from hi_moe.adapters.meta import one_served_model
from hi_moe.llm.prompting import fragment, render
from hi_moe.problems.datasets import get_problem
from hi_moe.routing.fleet import load_fleet
from nodes.runtime import context_of, llm_update, tier_calls

log = logging.getLogger(__name__)


class MonitorVerdict(BaseModel):
    decision: Literal["reroute", "replan", "skip"]
    reason: str


@dataclass(frozen=True)
class Assessment:
    """What the facts allow, recommended action first; one decision means no choice is left."""

    allowed: list[Decision]
    reason: str
    part: str | None = None
    signals: list[Signal] = field(default_factory=list)


def solved_parts(state: State) -> set[str]:
    return {o.part for o in state.outcomes if o.status == "success"}


def skipped_parts(state: State) -> set[str]:
    return {p.part for p in state.progress if p.decision == "skip" and p.part}


def open_parts(state: State) -> list[str]:
    """Parts neither solved nor skipped, in task order."""
    assert state.task is not None
    closed = solved_parts(state) | skipped_parts(state)
    return [p.name for p in state.task.parts if p.name not in closed]


def pending_subgoals(state: State) -> list[Subgoal]:
    """Subgoals of the current plan whose part is open and not yet settled in this plan version."""
    assert state.plan is not None
    version = state.plan.version
    settled = {o.part for o in state.outcomes if o.plan_version == version}
    still_open = set(open_parts(state))
    return [g for g in state.plan.subgoals if g.part in still_open and g.part not in settled]


def is_stuck(rounds: list[int], window: int) -> bool:
    """No round among the last `window` beat the first of them."""
    if len(rounds) < window:
        return False
    recent = rounds[-window:]
    return max(recent[1:], default=recent[0]) <= recent[0]


def drifted(outcome: OutcomeReport, task: Task) -> bool:
    """Code that lacks its part's function, or that redefines other parts."""
    if task.kind != "code":
        return False
    defined = set(re.findall(r"^def (\w+)\(", outcome.code, re.MULTILINE))
    others = {p.name for p in task.parts} - {outcome.part}
    return outcome.part not in defined or bool(defined & others)


def surprised(outcome: OutcomeReport, gap: float) -> bool:
    fraction = outcome.tests_passed / outcome.tests_total if outcome.tests_total else 0.0
    return abs(outcome.confidence - fraction) >= gap


def signals_for(state: State, outcome: OutcomeReport, context: Context) -> list[Signal]:
    assert state.task is not None
    checks: list[tuple[Signal, bool]] = [
        ("stuck", is_stuck(state.ledger[outcome.part].rounds, context.stuck_rounds)),
        ("drift", drifted(outcome, state.task)),
        ("surprise", surprised(outcome, context.surprise_gap)),
    ]
    return [signal for signal, found in checks if found]


def reroute_targets(state: State, part: str, context: Context) -> list[str]:
    """Specialists not yet tried on `part`; none when they all run on the weights already
    tried (the embedded model without adapters), where a reroute would be one more sample of
    the same model, which the part's resampled retries already were."""
    tried = state.ledger[part].specialists if part in state.ledger else []
    untried = [name for name in load_fleet(context.fleet_path).names if name not in tried]
    if tried and one_served_model(context, [*tried, *untried]):
        return []
    return untried


def next_step(state: State, skipping: str | None = None) -> Assessment:
    """After a solved or skipped part: the next subgoal, a plan for the next parts, or done."""
    pending = [g for g in pending_subgoals(state) if g.part != skipping]
    remaining = [p for p in open_parts(state) if p != skipping]
    if pending:
        return Assessment(["continue"], f"next part: {pending[0].part}")
    if remaining and state.plan is not None and state.plan.direct:
        return Assessment(["direct"], f"{len(remaining)} part(s) left: a direct first attempt")
    if remaining:
        return Assessment(["plan"], f"{len(remaining)} part(s) left beyond this plan")
    solved = len(solved_parts(state))
    return Assessment(["done"], f"every part is settled: {solved} solved, the rest skipped")


def failure_options(state: State, outcome: OutcomeReport, context: Context) -> list[Decision]:
    """The actions possible after a failed part, in the order the signals recommend. Skipping
    moves on to the other open parts; with none left it would end the task, so it is offered
    only once no reroute or replan is left."""
    reroutes = sum(p.decision == "reroute" and p.part == outcome.part for p in state.progress)
    replans = sum(p.decision == "replan" for p in state.progress)
    can_reroute = reroutes < context.max_reroutes and bool(
        reroute_targets(state, outcome.part, context)
    )
    options: list[tuple[Decision, bool]] = [
        ("reroute", can_reroute),
        ("replan", replans < context.max_replans),
    ]
    if "drift" in signals_for(state, outcome, context):
        options.reverse()
    escalations = [decision for decision, possible in options if possible]
    others_open = any(part != outcome.part for part in open_parts(state))
    if others_open or not escalations:
        return [*escalations, "skip"]
    return escalations


def assess(state: State, context: Context) -> Assessment:
    """The decisions the facts allow after the latest outcome."""
    assert state.plan is not None and state.task is not None
    if solved_parts(state) >= {p.name for p in state.task.parts}:
        return Assessment(["done"], "every part passed its visible tests")
    if state.usage.total_tokens >= context.token_budget:
        reason = f"token budget spent ({state.usage.total_tokens} >= {context.token_budget})"
        return Assessment(["give_up"], reason)
    last = state.outcomes[-1]
    signals = signals_for(state, last, context)
    noted = f" [{', '.join(signals)}]" if signals else ""
    if last.status == "success":
        step = next_step(state)
        return Assessment(step.allowed, f"part {last.part} solved{noted}; {step.reason}")
    allowed = failure_options(state, last, context)
    return Assessment(allowed, f"part {last.part}: {last.summary}{noted}", last.part, signals)


def ask_monitor(state: State, runtime: Runtime[Context], facts: Assessment) -> dict:
    """The monitor model chooses among the allowed actions; the recommendation is the fallback."""
    context = context_of(runtime)
    assert state.plan is not None and state.task is not None
    calls = tier_calls(runtime, "monitor", context.monitor_model, context.temperature)
    messages = render(
        context.monitor_prompt,
        context.prompt_token_cap,
        title=state.task.title or state.task.problem_id,
        plan_version=state.plan.version,
        tokens_used=state.usage.total_tokens,
        token_budget=context.token_budget,
        parts_solved=len(solved_parts(state)),
        parts_skipped=len(skipped_parts(state)),
        parts_total=len(state.task.parts),
        outcomes="\n".join(f"- {o.part}: {o.summary}" for o in state.outcomes[-3:]),
        signals=", ".join(facts.signals) or fragment("monitor.no_signals"),
        actions="\n".join(f"- {d}: {fragment(f'monitor.actions.{d}')}" for d in facts.allowed),
        allowed=", ".join(facts.allowed),
    )
    verdict = calls.json(messages, MonitorVerdict, fragment("monitor.example"))
    decision: Decision
    if verdict is not None and verdict.decision in facts.allowed:
        decision, reason, by_model = verdict.decision, verdict.reason[:GOAL_CHARS], True
    else:
        decision, by_model = facts.allowed[0], False
        reason = f"recommended after an unusable monitor reply; {facts.reason}"
        log.warning("monitor: %s", reason)
    return {**llm_update(calls), **decide(state, decision, reason, facts, by_model)}


def decide(
    state: State, decision: Decision, reason: str, facts: Assessment, by_model: bool = False
) -> dict:
    """The update for `decision`; a skip is followed by the step it leads to."""
    assert state.plan is not None
    reports = [
        ProgressReport(
            decision=decision,
            reason=reason,
            plan_version=state.plan.version,
            by_model=by_model,
            part=facts.part,
            signals=facts.signals,
        )
    ]
    if decision == "skip":
        step = next_step(state, skipping=facts.part)
        decision = step.allowed[0]
        reports.append(
            ProgressReport(decision=decision, reason=step.reason, plan_version=state.plan.version)
        )
    update: dict = {"decision": decision, "progress": reports}
    if decision == "continue":
        skipping = facts.part if reports[0].decision == "skip" else None
        update["current_subgoal"] = next(
            g.id for g in pending_subgoals(state) if g.part != skipping
        )
    return update


def opening(task: Task, context: Context) -> ProgressReport:
    """A new task: plan it, or (adaptive depth) try its parts directly first."""
    if context.direct_first:
        reason = (
            f"new task of {len(task.parts)} part(s): a first attempt at each without a plan "
            "or dispatch call; a failure escalates"
        )
        if context.opens_whole(len(task.parts), whole_class=bool(task.class_name)):
            reason += "; one call answers all the parts first"
        return ProgressReport(decision="direct", reason=reason, plan_version=0)
    return ProgressReport(decision="plan", reason="new task: ask for a plan", plan_version=0)


def node(state: State, runtime: Runtime[Context]) -> dict:
    if state.plan is None:
        task = state.task
        if task is None:
            if not state.problem_id:
                raise ValueError("the input needs a problem_id or a task")
            task = get_problem(state.problem_id).visible_task()
        report = opening(task, context_of(runtime))
        return {"task": task, "decision": report.decision, "progress": [report]}
    facts = assess(state, context_of(runtime))
    if len(facts.allowed) == 1:
        return decide(state, facts.allowed[0], facts.reason, facts)
    return ask_monitor(state, runtime, facts)
