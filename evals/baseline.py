"""The single-context systems' common ground: the plain prompt, one call, visible-test checks.

Fair by construction: the same endpoint and model (the python specialist's model name), the same
max tokens per completion, code extraction and hidden-test grading as the hierarchy. The prompt
is the plain one a practitioner would write ("complete the following code", the model's own
chat template), with no format demands beyond a code block. A two-part task (MBPP Pro) comes in
one prompt with both statements, as the MBPP Pro paper evaluates it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.messages import BaseMessage

from graph.context import Context
from graph.state import Attempt, Candidate
from hi_moe.llm.endpoints import client_for, endpoint_retry
from hi_moe.llm.extraction import extract_code, malformed_code
from hi_moe.llm.prompting import GREEDY, plain_parts_prompt, plain_prompt
from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project
from hi_moe.routing.fleet import load_fleet
from hi_moe.sandbox.visible import check_code, check_math

BASELINE_SPECIALIST = "python"


@dataclass(frozen=True)
class Sample:
    """One completion, its code and what the visible tests say of it."""

    code: str
    reply: str
    tokens: int
    seconds: float
    ran_ok: bool
    visible_passed: int
    visible_total: int
    feedback: str

    @property
    def passes_visible(self) -> bool:
        return self.ran_ok and self.visible_passed == self.visible_total

    @property
    def rank(self) -> tuple[bool, int]:
        """Better samples rank higher: runs at all, then visible tests passed."""
        return self.ran_ok, self.visible_passed


@dataclass
class SystemRun:
    """What one single-context system submitted for a problem and what it spent."""

    samples: list[Sample] = field(default_factory=list)

    def add(self, sample: Sample) -> Sample:
        self.samples.append(sample)
        return sample

    @property
    def best(self) -> Sample:
        """The first sample of the highest rank (the first that passes every visible test)."""
        return max(self.samples, key=lambda s: s.rank)

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.samples)

    @property
    def calls(self) -> int:
        return len(self.samples)

    @property
    def wall_s(self) -> float:
        return round(sum(s.seconds for s in self.samples), 3)


def task_prompt(problem: Problem | Project, context: Context) -> list[BaseMessage]:
    """The plain single-context prompt: the statement, or both statements of a two-part task."""
    if isinstance(problem, Project):
        statements = [p.statement for p in problem.parts]
        return plain_parts_prompt(problem.statement, statements, context.prompt_token_cap)
    return plain_prompt(problem.kind, problem.statement, context.prompt_token_cap)


def visible_check(problem: Problem | Project, code: str, timeout_s: float) -> Attempt:
    """Every part's visible tests on the whole answer, summed; the failures as feedback."""
    candidate = Candidate(subgoal_id=0, try_index=0, specialist=BASELINE_SPECIALIST, code=code)
    task = problem.visible_task()
    if task.kind == "math":
        return check_math(candidate, timeout_s)
    attempts = [check_code(candidate, part, "", timeout_s) for part in task.parts]
    return Attempt(
        **candidate.model_dump(),
        tests_passed=sum(a.tests_passed for a in attempts),
        tests_total=sum(a.tests_total for a in attempts),
        ran_ok=all(a.ran_ok for a in attempts),
        feedback="\n".join(dict.fromkeys(a.feedback for a in attempts if a.feedback)),
    )


def sample(
    context: Context,
    problem: Problem | Project,
    messages: list[BaseMessage],
    temperature: float,
    thread_id: str,
    tier: str = "baseline",
    shared_with: Sequence[str] = (),
) -> Sample:
    """One completion of `messages` (logged under `tier`), checked against the visible tests;
    a greedy request one of the threads `shared_with` made is answered with its reply."""
    specialist = load_fleet(context.fleet_path).get(BASELINE_SPECIALIST)
    started = time.perf_counter()
    completion = client_for(context).complete(
        tier=tier,
        model=specialist.model,
        messages=messages,
        temperature=temperature,
        max_tokens=context.max_completion_tokens,
        thread_id=thread_id,
        retry=endpoint_retry(context),
        shared_with=shared_with,
    )
    code = extract_code(completion.text)
    verdict = visible_check(problem, code, context.test_timeout_s)
    return Sample(
        code=code,
        reply=completion.text,
        tokens=completion.prompt_tokens + completion.completion_tokens,
        seconds=time.perf_counter() - started + (completion.latency_s if completion.shared else 0),
        ran_ok=verdict.ran_ok,
        visible_passed=verdict.tests_passed,
        visible_total=verdict.tests_total,
        feedback=verdict.feedback,
    )


def greedy_sample(
    context: Context, problem: Problem | Project, thread_id: str, shared_with: Sequence[str] = ()
) -> Sample:
    """The single call: the plain prompt, greedy. Best-of-n and retry start from this very
    sample (a greedy completion of the same prompt is the same reply), so it is made once;
    where a thread of `shared_with` (the hierarchy's) made the same request, its reply."""
    messages = task_prompt(problem, context)
    return sample(context, problem, messages, GREEDY, thread_id, shared_with=shared_with)


def format_error(problem: Problem | Project, code: str) -> bool:
    """The code is not valid Python or lacks a function the task asks for."""
    if isinstance(problem, Project):
        return any(malformed_code(code, p.entry_point) for p in problem.parts)
    return malformed_code(code, problem.entry_point if problem.kind == "code" else "")
