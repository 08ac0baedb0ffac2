"""The single-context systems' common ground: the plain prompt, one call, visible-test checks.

Fair by construction: the same endpoint and model (the python specialist's model name), the same
max tokens per completion, code extraction and hidden-test grading as the hierarchy. The prompt
is the plain one a practitioner would write ("complete the following code", the model's own
chat template), with no format demands beyond a code block. A two-part task (MBPP Pro) comes in
one prompt with both statements, as the MBPP Pro paper evaluates it; a class (ClassEval) comes as
its skeleton, the whole class asked for in one reply, as ClassEval's holistic generation.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from langchain_core.messages import BaseMessage

from graph.context import Context
from graph.state import Attempt, Candidate
from hi_moe.llm.endpoints import client_for, endpoint_retry
from hi_moe.llm.extraction import extract_code, malformed_code
from hi_moe.llm.prompting import GREEDY, plain_class_prompt, plain_parts_prompt, plain_prompt
from hi_moe.problems.classeval import ClassTask
from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project
from hi_moe.routing.fleet import load_fleet
from hi_moe.sandbox.class_checks import check_class_examples
from hi_moe.sandbox.visible import FEEDBACK_CHARS, check_code, check_math

BASELINE_SPECIALIST = "python"


@dataclass(frozen=True)
class Sample:
    """One completion, its code and what the visible tests say of it (a completion taken as
    it is, e.g. one method of a class built method by method, is unchecked: ran_ok False)."""

    code: str
    reply: str
    tokens: int
    seconds: float
    ran_ok: bool = False
    visible_passed: int = 0
    visible_total: int = 0
    feedback: str = ""

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
    assembled: str | None = None
    """Code built from the samples (a class assembled from its methods' replies), submitted
    instead of the best sample."""
    unanswered: list[str] = field(default_factory=list)
    """Methods whose reply did not hold them (their stubs stayed in the assembled class)."""

    def add(self, sample: Sample) -> Sample:
        self.samples.append(sample)
        return sample

    @property
    def best(self) -> Sample:
        """The first sample of the highest rank (the first that passes every visible test)."""
        return max(self.samples, key=lambda s: s.rank)

    @property
    def submission(self) -> str:
        """The code the system submits: the assembled code, else the best sample's."""
        return self.best.code if self.assembled is None else self.assembled

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
    """The plain single-context prompt: the statement, both statements of a two-part task, or
    a class's skeleton."""
    if isinstance(problem, ClassTask):
        return plain_class_prompt(problem.skeleton, context.class_prompt_tokens)
    if isinstance(problem, Project):
        statements = [p.statement for p in problem.parts]
        return plain_parts_prompt(problem.statement, statements, context.prompt_token_cap)
    return plain_prompt(problem.kind, problem.statement, context.prompt_token_cap)


def completion_cap(problem: Problem | Project, context: Context) -> int:
    """The most tokens one reply to the task's plain prompt may have: a whole class is longer."""
    if isinstance(problem, ClassTask):
        return context.class_completion_tokens
    return context.max_completion_tokens


def class_visible_check(task: ClassTask, candidate: Candidate, timeout_s: float) -> Attempt:
    """Every method's docstring examples on the whole class (the dataset's imports first),
    each method given `timeout_s`; the failures, named by method, as feedback."""
    named = [(part.entry_point, test) for part in task.parts for test in part.visible_tests]
    module = f"{task.imports}\n{candidate.code}"
    limit_s = timeout_s * max(len(task.parts), 1)
    report = check_class_examples(module, task.class_name, [t for _, t in named], limit_s)
    failing = [
        f"{name}: {result.call}: {result.status}: {result.message}"
        for (name, _), result in zip(named, report.results, strict=False)
        if result.status != "passed"
    ]
    feedback = (
        "\n".join(failing[:3]) if report.ran_ok else f"the code failed to run: {report.error}"
    )
    return Attempt(
        **candidate.model_dump(),
        tests_passed=report.passed,
        tests_total=len(named),
        ran_ok=report.ran_ok,
        feedback=feedback[:FEEDBACK_CHARS],
    )


def visible_check(problem: Problem | Project, code: str, timeout_s: float) -> Attempt:
    """Every part's visible tests on the whole answer, summed; the failures as feedback."""
    candidate = Candidate(subgoal_id=0, try_index=0, specialist=BASELINE_SPECIALIST, code=code)
    if isinstance(problem, ClassTask):
        return class_visible_check(problem, candidate, timeout_s)
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


def complete(
    context: Context,
    messages: list[BaseMessage],
    temperature: float,
    thread_id: str,
    tier: str,
    max_tokens: int,
    shared_with: Sequence[str] = (),
) -> Sample:
    """One completion of `messages` by the python specialist's model (logged under `tier`), its
    code extracted, unchecked; a greedy request one of the threads `shared_with` made is
    answered with its reply."""
    specialist = load_fleet(context.fleet_path).get(BASELINE_SPECIALIST)
    started = time.perf_counter()
    completion = client_for(context).complete(
        tier=tier,
        model=specialist.model,
        messages=messages,
        temperature=temperature,
        max_tokens=max_tokens,
        thread_id=thread_id,
        retry=endpoint_retry(context),
        shared_with=shared_with,
    )
    return Sample(
        code=extract_code(completion.text),
        reply=completion.text,
        tokens=completion.prompt_tokens + completion.completion_tokens,
        seconds=time.perf_counter() - started + (completion.latency_s if completion.shared else 0),
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
    """One completion of `messages` (logged under `tier`, capped as the task's plain prompt's
    replies are), checked against the visible tests; `shared_with` as for `complete`."""
    cap = completion_cap(problem, context)
    reply = complete(context, messages, temperature, thread_id, tier, cap, shared_with)
    started = time.perf_counter()
    verdict = visible_check(problem, reply.code, context.test_timeout_s)
    return replace(
        reply,
        seconds=reply.seconds + time.perf_counter() - started,
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


def malformed_class(code: str, task: ClassTask) -> bool:
    """The code is not valid Python, or lacks the task's class or one of its methods."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return True
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == task.class_name]
    defined = {n.name for c in classes for n in c.body if isinstance(n, ast.FunctionDef)}
    return not classes or any(part.entry_point not in defined for part in task.parts)


def format_error(problem: Problem | Project, code: str) -> bool:
    """The code is not valid Python or lacks a function (or class, or method) the task asks for."""
    if isinstance(problem, ClassTask):
        return malformed_class(code, problem)
    if isinstance(problem, Project):
        return any(malformed_code(code, p.entry_point) for p in problem.parts)
    return malformed_code(code, problem.entry_point if problem.kind == "code" else "")
