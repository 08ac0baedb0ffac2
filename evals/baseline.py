"""The single-call baseline: one prompt, one completion, the same extraction and grading.

Fair by construction: the same endpoint and model (the python specialist's model name), the same
temperature and the same max tokens per completion as the hierarchy's specialist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from graph.context import Context
from hi_moe.llm.endpoints import client_for
from hi_moe.llm.extraction import extract_code
from hi_moe.llm.prompting import render
from hi_moe.problems.grading import Grade, grade
from hi_moe.problems.problem import Problem
from hi_moe.routing.fleet import load_fleet
from nodes.specialist import INSTRUCTIONS
from nodes.support import endpoint_retry

BASELINE_SPECIALIST = "python"


@dataclass(frozen=True)
class BaselineResult:
    problem_id: str
    hidden: Grade
    total_tokens: int
    llm_calls: int
    wall_s: float
    solution: str


def solve_baseline(context: Context, problem: Problem, thread_id: str) -> BaselineResult:
    """One completion for the whole problem, graded with the hidden tests."""
    specialist = load_fleet(context.fleet_path).get(BASELINE_SPECIALIST)
    task = problem.visible_task()
    messages = render(
        "baseline",
        context.prompt_token_cap,
        instructions=INSTRUCTIONS[task.kind].format(part=task.parts[0].name),
        statement=task.statement,
    )
    started = time.perf_counter()
    completion = client_for(context).complete(
        tier="baseline",
        model=specialist.model,
        messages=messages,
        temperature=specialist.temperature,
        max_tokens=context.max_completion_tokens,
        thread_id=thread_id,
        retry=endpoint_retry(context),
    )
    solution = extract_code(completion.text)
    verdict = grade(problem, solution)
    return BaselineResult(
        problem_id=problem.id,
        hidden=verdict,
        total_tokens=completion.prompt_tokens + completion.completion_tokens,
        llm_calls=1,
        wall_s=time.perf_counter() - started,
        solution=solution,
    )
