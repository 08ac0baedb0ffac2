"""Abstract Architect: the goal and the strategy, as a plan of subgoals with acceptance criteria.

On replan it sees short summaries of what failed and writes the next plan version.
"""

from __future__ import annotations

import logging

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from graph.context import Context
from graph.state import Plan, State, Subgoal, Task
from hi_moe.prompting import render
from nodes.monitor import pending_subgoals
from nodes.support import context_of, llm_update, tier_calls

log = logging.getLogger(__name__)
EXAMPLE = (
    '{"goal": "...", "strategy": "...", "subgoals": [{"part": "name", "objective": "...",'
    ' "acceptance": ["passes the visible tests"]}]}'
)


class SubgoalDraft(BaseModel):
    part: str
    objective: str
    acceptance: list[str] = Field(default_factory=list)


class PlanDraft(BaseModel):
    goal: str
    strategy: str
    subgoals: list[SubgoalDraft]


def default_subgoal(index: int, part: str) -> Subgoal:
    return Subgoal(
        id=index,
        part=part,
        objective=f"Implement {part} as specified.",
        acceptance=["passes every visible test"],
    )


def plan_from_draft(draft: PlanDraft | None, task: Task, version: int) -> Plan:
    """A valid plan: the draft's subgoals for known parts, defaults for any part it missed."""
    parts = [p.name for p in task.parts]
    drafted = {}
    for item in draft.subgoals if draft else []:
        if item.part in parts and item.part not in drafted and item.objective.strip():
            drafted[item.part] = item
    order = [*drafted, *(p for p in parts if p not in drafted)]
    subgoals = []
    for index, part in enumerate(order):
        item = drafted.get(part)
        if item is None:
            subgoals.append(default_subgoal(index, part))
        else:
            acceptance = [a[:200] for a in item.acceptance[:4]] or ["passes every visible test"]
            subgoals.append(
                Subgoal(id=index, part=part, objective=item.objective[:400], acceptance=acceptance)
            )
    goal = draft.goal[:300] if draft and draft.goal.strip() else f"Solve: {task.title}"
    strategy = (
        draft.strategy[:400]
        if draft and draft.strategy.strip()
        else "Build each part in order so that it passes its visible tests."
    )
    return Plan(version=version, goal=goal, strategy=strategy, subgoals=subgoals)


def history(state: State) -> str:
    """Short summaries of failed outcomes, for a replan."""
    failed = [o for o in state.outcomes if o.status != "success"][-3:]
    if not failed:
        return ""
    lines = "\n".join(f"- {o.part} (plan v{o.plan_version}): {o.summary}" for o in failed)
    return f"The previous plan failed here; change the approach:\n{lines}\n"


def node(state: State, runtime: Runtime[Context]) -> dict:
    context = context_of(runtime)
    task = state.task
    assert task is not None
    version = state.plan.version + 1 if state.plan else 1
    calls = tier_calls(runtime, "architect", context.architect_model, context.temperature)
    tests = [f"{t.call} == {t.expected}" for p in task.parts for t in p.visible_tests]
    messages = render(
        context.architect_prompt,
        context.prompt_token_cap,
        kind=task.kind,
        title=task.title or task.problem_id,
        statement=task.statement,
        parts=", ".join(p.name for p in task.parts),
        visible_tests="\n".join(tests) or "(none)",
        history=history(state),
    )
    draft = calls.json(messages, PlanDraft, EXAMPLE)
    if draft is None:
        log.warning("architect: no usable plan from the model; using the default plan")
    plan = plan_from_draft(draft, task, version)
    first = pending_subgoals(state.model_copy(update={"plan": plan}))
    return {
        **llm_update(calls),
        "plan": plan,
        "current_subgoal": first[0].id if first else plan.subgoals[0].id,
    }
