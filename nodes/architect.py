"""Abstract Architect: the goal and the strategy, as a plan of subgoals with acceptance criteria.

It plans a window of at most `plan_window` open parts at a time, seeing one-line contracts of
those parts, the interfaces they may call, similar solved routines and, on a replan, short
summaries of what failed: its prompt stays bounded however many parts the task has.
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
    GOAL_CHARS,
    OBJECTIVE_CHARS,
    Part,
    Plan,
    RoutineUse,
    State,
    Subgoal,
    Task,
)
from hi_moe.llm.prompting import fragment, render
from hi_moe.routing.routines import Routine, routine_cache
from nodes.assembly import contract, relevant_interfaces, routine_query
from nodes.monitor import open_parts, pending_subgoals, skipped_parts, solved_parts
from nodes.runtime import context_of, llm_update, tier_calls

log = logging.getLogger(__name__)
TESTS_PER_PART = 2
TESTS_IN_VIEW = 4
"""Visible tests shown for the whole window, dealt one per part in turn: the prompt holds at
most this many however many parts the window has."""
TEST_CHARS = 160


class SubgoalDraft(BaseModel):
    part: str
    objective: str
    acceptance: list[str] = Field(default_factory=list)


class PlanDraft(BaseModel):
    goal: str
    strategy: str
    subgoals: list[SubgoalDraft]


def plan_schema(window: list[str]) -> type[PlanDraft]:
    """The reply schema for planning `window`: at most one subgoal per part, each naming one of
    its parts, with at most CRITERIA_KEPT criteria. The endpoint's JSON grammar then holds the
    model to what the prompt asks. Unconstrained, the 1.5B invented helper parts for one-part
    HumanEval tasks and ran into the reply cap: 8 of 29 plans, each costing a repair call, 5
    of whose replies were cut too (the default plan then)."""
    # A Literal built at run time is a value to a type checker, not a type: hence `Any`.
    names: Any = Literal[tuple(window)]
    subgoal = create_model(
        "SubgoalDraft",
        __base__=SubgoalDraft,
        part=(names, ...),
        acceptance=(list[str], Field(default_factory=list, max_length=CRITERIA_KEPT)),
    )
    subgoals: Any = list[subgoal]  # type: ignore[valid-type]
    return create_model(
        "PlanDraft", __base__=PlanDraft, subgoals=(subgoals, Field(max_length=len(window)))
    )


def default_subgoal(index: int, part: str) -> Subgoal:
    return Subgoal(
        id=index,
        part=part,
        objective=fragment("architect.default.objective", part=part),
        acceptance=[fragment("architect.default.acceptance")],
    )


def plan_from_draft(draft: PlanDraft | None, task: Task, window: list[str], version: int) -> Plan:
    """A valid plan for `window`: the draft's subgoals for its parts, defaults for any it missed."""
    index = {p.name: i for i, p in enumerate(task.parts)}
    drafted = {}
    for item in draft.subgoals if draft else []:
        if item.part in window and item.part not in drafted and item.objective.strip():
            drafted[item.part] = item
    order = [*drafted, *(p for p in window if p not in drafted)]
    subgoals = []
    for part in order:
        found = drafted.get(part)
        if found is None:
            subgoals.append(default_subgoal(index[part], part))
        else:
            acceptance = [a[:CRITERION_CHARS] for a in found.acceptance[:CRITERIA_KEPT]] or [
                fragment("architect.default.acceptance")
            ]
            subgoals.append(
                Subgoal(
                    id=index[part],
                    part=part,
                    objective=found.objective[:OBJECTIVE_CHARS],
                    acceptance=acceptance,
                )
            )
    goal = (
        draft.goal[:GOAL_CHARS]
        if draft and draft.goal.strip()
        else fragment("architect.default.goal", title=task.title)
    )
    strategy = (
        draft.strategy[:OBJECTIVE_CHARS]
        if draft and draft.strategy.strip()
        else fragment("architect.default.strategy")
    )
    return Plan(version=version, goal=goal, strategy=strategy, subgoals=subgoals)


def window_view(parts: list[Part]) -> tuple[str, str]:
    """The window's parts as contract lines, and at most TESTS_IN_VIEW of their visible tests."""
    listed = "\n".join(f"- {p.name}: {contract(p)}" for p in parts)
    dealt = [
        (rank, index, test)
        for index, part in enumerate(parts)
        for rank, test in enumerate(part.visible_tests[:TESTS_PER_PART])
    ]
    shown = sorted(dealt, key=lambda item: (item[0], item[1]))[:TESTS_IN_VIEW]
    in_part_order = sorted(shown, key=lambda item: (item[1], item[0]))
    tests = [f"{test.call} == {test.expected}"[:TEST_CHARS] for _, _, test in in_part_order]
    return listed, "\n".join(tests) or fragment("architect.none")


def history(state: State) -> str:
    """Short summaries of failed outcomes, for a replan."""
    if state.decision != "replan":
        return ""
    failed = [o for o in state.outcomes if o.status != "success"][-3:]
    lines = "\n".join(
        fragment("architect.failure", part=o.part, version=o.plan_version, summary=o.summary)
        for o in failed
    )
    return fragment("architect.history", failures=lines)


def task_sources(task: Task) -> set[str]:
    """Problem ids the task is made of: routines from them would leak answers."""
    return {task.problem_id, *(p.source_id for p in task.parts if p.source_id)}


def retrieve_routines(task: Task, parts: list[Part], context: Context) -> list[Routine]:
    if context.routines_shown == 0:
        return []
    return routine_cache(context.routine_dir).similar(
        routine_query(parts),
        task_sources(task),
        context.routines_shown,
        context.routine_max_distance,
    )


def routines_text(routines: list[Routine]) -> str:
    if not routines:
        return ""
    lines = "\n".join(
        fragment("architect.routine", summary=r.summary, strategy=r.strategy, interface=r.interface)
        for r in routines
    )
    return fragment("architect.routines", routines=lines)


def direct_plan(state: State, window: list[str], version: int) -> dict:
    """The monitor chose a direct first attempt: the default plan, no LLM call."""
    assert state.task is not None
    plan = plan_from_draft(None, state.task, window, version).model_copy(update={"direct": True})
    log.info("architect: direct first attempt at %s, no plan call", ", ".join(window))
    return {"plan": plan, "current_subgoal": plan.subgoals[0].id}


def node(state: State, runtime: Runtime[Context]) -> dict:
    context = context_of(runtime)
    task = state.task
    assert task is not None
    version = state.plan.version + 1 if state.plan else 1
    window = open_parts(state)[: context.plan_window]
    if state.decision == "direct":
        return direct_plan(state, window, version)
    parts = [p for p in task.parts if p.name in window]
    named = [i for p in parts for i in relevant_interfaces(state, p, context.max_interfaces)]
    interfaces = list(dict.fromkeys(named))[: context.max_interfaces]
    available = "".join(f"- {line}\n" for line in interfaces) or fragment("architect.none") + "\n"
    routines = retrieve_routines(task, parts, context)
    listed, tests = window_view(parts)
    calls = tier_calls(runtime, "architect", context.architect_model, context.temperature)
    messages = render(
        context.architect_prompt,
        context.prompt_token_cap,
        kind=task.kind,
        title=task.title or task.problem_id,
        statement=task.statement if len(task.parts) == 1 else task.statement[:OBJECTIVE_CHARS],
        progress=fragment(
            "architect.progress",
            solved=len(solved_parts(state)),
            total=len(task.parts),
            skipped=len(skipped_parts(state)),
        ),
        parts=listed,
        visible_tests=tests,
        interfaces=available,
        routines=routines_text(routines),
        history=history(state),
    )
    draft = calls.json(messages, plan_schema(window), fragment("architect.example"))
    if draft is None:
        log.warning("architect: no usable plan from the model; using the default plan")
    plan = plan_from_draft(draft, task, window, version)
    first = pending_subgoals(state.model_copy(update={"plan": plan}))
    used = [
        RoutineUse(
            routine_id=r.id,
            source_id=r.source_id,
            for_parts=window,
            distance=r.distance,
            plan_version=version,
        )
        for r in routines
    ]
    if used:
        log.info("architect: %d routine(s) retrieved for %s", len(used), ", ".join(window))
    return {
        **llm_update(calls),
        "plan": plan,
        "current_subgoal": first[0].id if first else plan.subgoals[0].id,
        "routines_used": used,
    }
