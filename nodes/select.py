"""Select: keeps the round's best candidate, then asks for a retry or settles the subgoal with
the best attempt of all its tries.

Best = most visible tests passed, then ran without error, then stated confidence, then the
router's score (the subtask lists its specialists best first). A solved part's approach goes
into the routine cache.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import (
    FAILURE_LINE_CHARS,
    Attempt,
    OutcomeReport,
    OutcomeStatus,
    PartLedger,
    State,
    Subtask,
    Task,
)
from hi_moe.routing.routines import Routine, routine_cache
from nodes.assembly import interface_line, routine_summary
from nodes.runtime import context_of, routing_log


def best_attempt(attempts: list[Attempt], subtask: Subtask) -> Attempt:
    def rank(attempt: Attempt) -> tuple:
        order = subtask.specialists.index(attempt.specialist)
        return (attempt.tests_passed, attempt.ran_ok, attempt.confidence, -order)

    return max(attempts, key=rank)


def settle(
    best: Attempt, subtask: Subtask, task: Task, plan_version: int, tries: int
) -> OutcomeReport:
    status: OutcomeStatus
    if best.passed_all:
        status = "success"
    elif best.ran_ok and best.tests_passed > 0:
        status = "partial"
    else:
        status = "failed"
    summary = f"{status}: {best.tests_passed}/{best.tests_total} visible tests after {tries} tries"
    if best.feedback:
        summary += f"; last failure: {best.feedback.splitlines()[0][:FAILURE_LINE_CHARS]}"
    part = task.part(subtask.part)
    return OutcomeReport(
        subgoal_id=subtask.subgoal_id,
        part=subtask.part,
        plan_version=plan_version,
        status=status,
        summary=summary,
        confidence=best.confidence,
        specialist=best.specialist,
        attempts=tries,
        tests_passed=best.tests_passed,
        tests_total=best.tests_total,
        code=best.code,
        interface=interface_line(best.code, part.statement, part.name),
    )


def remember(state: State, outcome: OutcomeReport, context: Context) -> None:
    """Store a solved part's approach as a routine for later tasks."""
    assert state.task is not None and state.plan is not None
    part = state.task.part(outcome.part)
    routine_cache(context.routine_dir).add(
        Routine(
            source_id=part.source_id or state.task.problem_id,
            summary=routine_summary(part),
            strategy=state.plan.strategy,
            interface=outcome.interface,
            solution=outcome.code,
        )
    )


def updated_ledger(state: State, subtask: Subtask) -> PartLedger:
    """The part's ledger with this dispatch's rounds and specialists added."""
    mine = [a for a in state.attempts if a.dispatch == subtask.dispatch]
    rounds = [
        max(a.tests_passed for a in mine if a.try_index == index)
        for index in sorted({a.try_index for a in mine})
    ]
    earlier = state.ledger.get(subtask.part, PartLedger())
    new = [name for name in subtask.specialists if name not in earlier.specialists]
    return PartLedger(rounds=[*earlier.rounds, *rounds], specialists=[*earlier.specialists, *new])


def node(state: State, runtime: Runtime[Context]) -> dict:
    subtask, plan, task = state.subtask, state.plan, state.task
    assert subtask is not None and plan is not None and task is not None
    round_attempts = [
        a
        for a in state.attempts
        if a.dispatch == subtask.dispatch and a.try_index == state.try_index
    ]
    best = best_attempt(round_attempts, subtask)
    context = context_of(runtime)
    if best.passed_all or state.try_index >= context.max_retries:
        # The part keeps the best attempt of all its tries, not only of the last round.
        tries = [a for a in state.attempts if a.dispatch == subtask.dispatch]
        kept = best_attempt(tries, subtask)
        outcome = settle(kept, subtask, task, plan.version, state.try_index + 1)
        if subtask.routing_id is not None:
            passed = {a.specialist: a.passed_all for a in round_attempts}
            routing_log(context.routing_log_path).record_outcome(subtask.routing_id, passed)
        if outcome.status == "success" and context.routines_shown > 0:
            remember(state, outcome, context)
        return {
            "outcomes": [outcome],
            "ledger": {subtask.part: updated_ledger(state, subtask)},
            "subtask": None,
            "previous_attempt": None,
        }
    return {"try_index": state.try_index + 1, "previous_attempt": best}
