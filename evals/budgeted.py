"""Budget-matched single-context systems: independent samples (best-of-n) and one growing
self-debug conversation (retry).

Both start from the single call's greedy sample and stop at the first sample that passes every
visible test; otherwise they go on while they have spent fewer tokens than `budget` (the
hierarchy's tokens on the same problem), so they overshoot it by at most one call. Each submits
its best sample: the first that passes most visible tests.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from evals.baseline import Sample, SystemRun, sample, task_prompt
from graph.context import Context
from hi_moe.llm.prompting import GREEDY, load_text
from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project

SAMPLE_TEMPERATURE = 0.8
"""Best-of-n's samples after the greedy first: the usual temperature for pass@k sampling."""


def max_tries(context: Context) -> int:
    """The most specialist tries the hierarchy may spend on one part: a first dispatch and each
    reroute or replan get 1 + max_retries rounds. Retry's turns are capped at the same."""
    return (1 + context.max_retries) * (1 + context.max_reroutes + context.max_replans)


def can_spend(run: SystemRun, budget: int) -> bool:
    return not run.best.passes_visible and run.tokens < budget


def best_of_n(
    context: Context, problem: Problem | Project, first: Sample, budget: int, thread_id: str
) -> SystemRun:
    """Independent samples of the plain prompt at SAMPLE_TEMPERATURE after the greedy one."""
    run = SystemRun([first])
    messages = task_prompt(problem, context)
    while can_spend(run, budget):
        run.add(sample(context, problem, messages, SAMPLE_TEMPERATURE, thread_id, "best-of-n"))
    return run


def feedback_message(failed: Sample) -> HumanMessage:
    return HumanMessage(load_text("retry_feedback").format(feedback=failed.feedback))


def retry(
    context: Context, problem: Problem | Project, first: Sample, budget: int, thread_id: str
) -> SystemRun:
    """One conversation: each failure's feedback is appended and the model answers again
    (greedy: the growing context, not chance, makes each answer new)."""
    run = SystemRun([first])
    messages = task_prompt(problem, context)
    latest = first
    while can_spend(run, budget) and run.calls < max_tries(context):
        messages += [AIMessage(latest.reply), feedback_message(latest)]
        latest = run.add(sample(context, problem, messages, GREEDY, thread_id, "retry"))
    return run
