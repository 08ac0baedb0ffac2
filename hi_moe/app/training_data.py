"""Building specialist training examples (the file format is hi_moe.adapters.data). Sources:
- `reference`: reference solutions of the specialist's training split (hi_moe.problems.splits);
- `harness`: the harness's own verified successes, read from a checkpoint database: attempts
  that passed their visible tests and, re-graded here, the problem's hidden tests too;
- `repair`: those of the successes that followed a failed attempt at the same part, as the
  repair of that attempt (its code and visible-test feedback in the prompt, the fix answered).
Only problems of a training split are used; evaluation problems never become training data,
and hidden tests only decide which successes count: they never reach an example.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from graph.builder import build_graph
from graph.checkpoint import open_checkpointer
from graph.context import Context
from graph.edges import to_specialists
from graph.state import Attempt, SpecialistInput, State, Subtask
from hi_moe.adapters.data import ROLES, DataError, Example
from hi_moe.problems.grading import grade
from hi_moe.problems.problem import Problem
from hi_moe.problems.splits import SPLITS, split_of, splits_for, training_problems
from nodes.architect import default_subgoal
from nodes.specialist import specialist_messages

CONFIDENCE_LINE = "CONFIDENCE: 0.9"
SOURCES = ("reference", "harness", "repair")


def answer_text(code: str) -> str:
    """A specialist's answer in the format its prompt asks for."""
    return f"```python\n{code.strip()}\n```\n{CONFIDENCE_LINE}"


def strip_docstring(source: str, function: str) -> str:
    """`source` without the docstring of `function` (HumanEval references repeat the prompt)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
                and len(node.body) > 1
            ):
                if first.lineno == node.lineno or first.end_lineno is None:
                    return source
                lines = source.splitlines(keepends=True)
                return "".join(lines[: first.lineno - 1] + lines[first.end_lineno :])
    return source


def reference_code(problem: Problem) -> str:
    """The reference solution as the specialist should write it."""
    if problem.kind == "math":
        return problem.reference
    return strip_docstring(problem.reference, problem.entry_point)


def chat(messages: list, answer: str) -> list[dict[str, str]]:
    """LangChain messages plus the assistant's answer, as role/content dicts."""
    turns = [{"role": ROLES[m.type], "content": str(m.content)} for m in messages]
    return [*turns, {"role": "assistant", "content": answer}]


def first_try_input(problem: Problem, specialist: str) -> SpecialistInput:
    """The view a specialist gets on a first try under the default plan and dispatch."""
    task = problem.visible_task()
    part = task.parts[0]
    subgoal = default_subgoal(0, part.name)
    subtask = Subtask(
        subgoal_id=subgoal.id,
        part=part.name,
        objective=subgoal.objective,
        acceptance=subgoal.acceptance,
        specialists=[specialist],
    )
    return SpecialistInput(
        kind=task.kind, part=part, subtask=subtask, specialist=specialist, try_index=0
    )


def reference_examples(specialist: str, context: Context) -> list[Example]:
    """One example per problem of the specialist's training splits, answered by the reference."""
    examples = []
    for split in splits_for(specialist):
        for problem in training_problems(split):
            if not problem.reference.strip():
                continue
            messages = specialist_messages(first_try_input(problem, specialist), context)
            answer = answer_text(reference_code(problem))
            examples.append(
                Example(specialist, problem.id, split, "reference", chat(messages, answer))
            )
    return examples


def _attempt_key(item: Attempt | SpecialistInput) -> tuple[str, int, int, int]:
    """Which specialist input an attempt answers: specialist, subgoal, dispatch, try."""
    if isinstance(item, SpecialistInput):
        subtask = item.subtask
        return item.specialist, subtask.subgoal_id, subtask.dispatch, item.try_index
    return item.specialist, item.subgoal_id, item.dispatch, item.try_index


def source_id(state: State, sent: SpecialistInput) -> str:
    """The problem an attempt solves: its part's source (projects, bundles) or the task."""
    return sent.part.source_id or (state.task.problem_id if state.task else "")


def thread_attempts(graph, thread_id: str) -> list[tuple[State, Attempt, SpecialistInput]]:
    """Every attempt of a finished thread with the exact input its specialist was sent.

    Walks the checkpoints oldest first: a checkpoint about to run `specialist` holds the state
    the fan-out was computed from (`graph.edges.to_specialists` is a pure function of it); the
    attempts appended after it answer those inputs.
    """
    config = {"configurable": {"thread_id": thread_id}}
    final = graph.get_state(config)
    if not final.values or final.values.get("result") is None:
        return []
    pending: dict[tuple[str, int, int, int], SpecialistInput] = {}
    answered: set[tuple[str, int, int, int]] = set()
    found = []
    for snapshot in reversed(list(graph.get_state_history(config))):
        if not snapshot.values:
            continue
        state = State.model_validate(snapshot.values)
        for attempt in state.attempts:
            key = _attempt_key(attempt)
            if key in pending and key not in answered:
                answered.add(key)
                found.append((state, attempt, pending[key]))
        if "specialist" in snapshot.next and state.task is not None and state.subtask:
            pending = {_attempt_key(send.arg): send.arg for send in to_specialists(state)}
    return found


@dataclass(frozen=True)
class VerifiedSuccess:
    """An attempt that passed its visible tests and, re-graded, its problem's hidden tests."""

    problem: Problem
    split: str
    sent: SpecialistInput
    """The exact input its specialist was sent."""
    attempt: Attempt
    failed_before: Attempt | None
    """The part's latest failed attempt in the same thread before it, if any."""


def verified_successes(checkpoint: str, specialist: str | None = None) -> Iterator[VerifiedSuccess]:
    """The verified successes on training-split problems in a checkpoint database (of
    `specialist`, or of every specialist)."""
    if (
        not checkpoint.startswith(("postgres://", "postgresql://"))
        and not Path(checkpoint).is_file()
    ):
        raise DataError(f"no checkpoint database at {checkpoint}: solve some problems first")
    with open_checkpointer(checkpoint) as saver:
        graph = build_graph(saver)
        threads = sorted({c.config["configurable"]["thread_id"] for c in saver.list(None)})
        for thread_id in threads:
            failed: dict[str, Attempt] = {}
            for state, attempt, sent in thread_attempts(graph, thread_id):
                before = failed.get(attempt.part)
                if not attempt.passed_all:
                    failed[attempt.part] = attempt
                problem_id = source_id(state, sent)
                split = split_of(problem_id)
                if split is None or not attempt.passed_all:
                    continue
                if specialist is not None and attempt.specialist != specialist:
                    continue
                problem = next(p for p in training_problems(split) if p.id == problem_id)
                if grade(problem, attempt.code).passed:
                    yield VerifiedSuccess(problem, split, sent, attempt, before)


def repair_input(success: VerifiedSuccess) -> SpecialistInput | None:
    """The repair the success answers: its input with the part's failed attempt (and that
    attempt's feedback) as the previous one; None when nothing failed before it."""
    if success.failed_before is None:
        return None
    try_index = max(success.sent.try_index, 1)
    return success.sent.model_copy(
        update={"previous": success.failed_before, "try_index": try_index}
    )


def harness_examples(
    checkpoint: str, context: Context, specialist: str | None = None, source: str = "harness"
) -> list[Example]:
    """Examples from the verified successes in a checkpoint database.

    `harness`: each success with the exact prompt its specialist saw (rebuilt with `context`'s
    prompt template, token cap and fleet: the same text when the run used the same settings).
    `repair`: each success that followed a failed attempt at its part, as a repair of that
    attempt: the prompt shows the failed code and its visible-test feedback (as a retry
    does with `retry_resample` off), the answer is the verified fix."""
    repairs = source == "repair"
    prompt_context = replace(context, retry_resample=False) if repairs else context
    examples: list[Example] = []
    seen: set[str] = set()
    for success in verified_successes(checkpoint, specialist):
        sent = repair_input(success) if repairs else success.sent
        if sent is None:
            continue
        messages = chat(
            specialist_messages(sent, prompt_context), answer_text(success.attempt.code)
        )
        example = Example(
            success.attempt.specialist, success.problem.id, success.split, source, messages
        )
        if example.to_line() not in seen:
            seen.add(example.to_line())
            examples.append(example)
    return examples


def build_examples(
    specialist: str,
    sources: list[str],
    context: Context,
    checkpoint: str | None = None,
) -> list[Example]:
    """Examples for one specialist from the chosen sources (reference, harness)."""
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        raise DataError(f"unknown data source(s) {', '.join(unknown)}; use {', '.join(SOURCES)}")
    examples: list[Example] = []
    if "reference" in sources:
        if not splits_for(specialist) and sources == ["reference"]:
            raise DataError(
                f"no training split has reference solutions for {specialist!r} "
                f"(splits: {', '.join(f'{s.name} -> {s.specialist}' for s in SPLITS.values())}); "
                "use --source harness"
            )
        examples += reference_examples(specialist, context)
    target = checkpoint or str(context.home_dir / "checkpoints.sqlite")
    for source in ("harness", "repair"):
        if source in sources:
            examples += harness_examples(target, context, specialist, source)
    return examples
