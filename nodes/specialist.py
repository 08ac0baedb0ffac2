"""Specialized Fleet: one specialist (a model name = a LoRA adapter) writes code for one subtask.

It sees only its subtask, the part's statement and visible tests, the interfaces of finished
parts, and on a retry its previous attempt with the failing tests' feedback. The first try of
a direct attempt is the plain single call instead: the statement (after the interfaces it may
call), greedy; on a small task answered whole, every part's statement (a class: its skeleton),
or no call at all for a part that whole answer already wrote.
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage
from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import Candidate, SpecialistInput
from hi_moe.llm.extraction import extract_code, extract_confidence
from hi_moe.llm.prompting import (
    GREEDY,
    fragment,
    plain_class_prompt,
    plain_parts_prompt,
    plain_prompt,
    render,
)
from hi_moe.problems.class_code import method_source
from hi_moe.routing.fleet import load_fleet
from nodes.runtime import context_of, llm_update, tier_calls


def feedback_text(state: SpecialistInput, context: Context) -> str:
    """The last attempt and its failing tests, unless there is none or retries resample. For
    a method, the attempt is that method alone: the whole class it came in would push the
    failure out of the capped prompt."""
    if state.previous is None or context.retry_resample:
        return ""
    previous = state.previous
    code = previous.code
    if state.class_name:
        code = method_source(code, state.part.name, state.class_name) or code
    return fragment("specialist.feedback", code=code, feedback=previous.feedback)


def plain_try(state: SpecialistInput) -> bool:
    """The first try of a direct attempt: the plain single call, greedy."""
    return state.subtask.plain and state.try_index == 0


def plain_statement(state: SpecialistInput) -> str:
    """The part's statement, after the interfaces of finished parts it may call (as comments)."""
    if not state.interfaces:
        return state.part.statement
    interfaces = "".join(f"# {line}\n" for line in state.interfaces)
    return fragment("specialist.plain_interfaces", interfaces=interfaces).lstrip() + (
        state.part.statement
    )


def plain_messages(state: SpecialistInput, context: Context) -> list[BaseMessage]:
    """The plain first try's prompt: the whole task's when it is answered whole (a class: the
    single call's own prompt, its skeleton), else the part's."""
    task, cap = state.whole_task, context.prompt_token_cap
    if task is not None and task.class_name:
        return plain_class_prompt(task.skeleton, context.class_prompt_tokens)
    if task is not None:
        return plain_parts_prompt(task.statement, [p.statement for p in task.parts], cap)
    return plain_prompt(state.kind, plain_statement(state), cap)


def reply_cap(state: SpecialistInput, context: Context) -> int:
    """Completion tokens for this try: a whole class (the opening call only; a retry of the
    part it was checked as is one method), one method of a class, or one part."""
    if state.subtask.whole and state.class_name and plain_try(state):
        return context.class_completion_tokens
    return context.method_completion_tokens if state.class_name else context.max_completion_tokens


def instructions(state: SpecialistInput) -> str:
    """What the specialist writes: the part's function, a method of the class, or a program."""
    if state.class_name:
        return fragment("specialist.instructions.method", part=state.part.name,
                        class_name=state.class_name)  # fmt: skip
    return fragment(f"specialist.instructions.{state.kind}", part=state.part.name)


def specialist_messages(state: SpecialistInput, context: Context) -> list[BaseMessage]:
    """The specialist's whole prompt for one subtask (also what adapter training data uses)."""
    specialist = load_fleet(context.fleet_path).get(state.specialist)
    part = state.part
    interfaces = "".join(f"- {line}\n" for line in state.interfaces)
    return render(
        context.specialist_prompt,
        context.prompt_token_cap,
        specialist=specialist.name,
        description=specialist.description,
        instructions=instructions(state),
        statement=part.statement,
        objective=state.subtask.objective,
        constraints="; ".join(state.subtask.constraints) or fragment("specialist.no_constraints"),
        interfaces=fragment("specialist.interfaces", interfaces=interfaces) if interfaces else "",
        feedback=feedback_text(state, context),
    )


def retry_temperature(base: float, try_index: int, context: Context) -> float:
    """The specialist's temperature, raised by `retry_temperature_step` per retry (at most 1):
    a retry that differs from the failed answer, not only a repair of it."""
    return min(1.0, base + context.retry_temperature_step * try_index) if try_index else base


def node(state: SpecialistInput, runtime: Runtime[Context]) -> dict:
    context = context_of(runtime)
    specialist = load_fleet(context.fleet_path).get(state.specialist)
    if plain_try(state) and state.subtask.carried:
        return {"candidates": [candidate(state, specialist.name, state.subtask.carried)]}
    if plain_try(state):
        temperature = GREEDY
        messages = plain_messages(state, context)
    else:
        temperature = retry_temperature(specialist.temperature, state.try_index, context)
        messages = specialist_messages(state, context)
    calls = tier_calls(runtime, "specialist", specialist.model, temperature)
    reply = calls.text(messages, max_tokens=reply_cap(state, context))
    answer = candidate(state, specialist.name, extract_code(reply), extract_confidence(reply))
    return {**llm_update(calls), "candidates": [answer]}


def candidate(
    state: SpecialistInput, specialist: str, code: str, confidence: float = 0.5
) -> Candidate:
    """This branch's candidate for its subtask (0.5: no confidence stated)."""
    return Candidate(
        subgoal_id=state.subtask.subgoal_id,
        part=state.subtask.part,
        dispatch=state.subtask.dispatch,
        try_index=state.try_index,
        specialist=specialist,
        code=code,
        confidence=confidence,
    )
