"""The single-context baseline for long tasks: one growing chat history, part by part.

Fair by construction: the same endpoint and model (the python specialist's), temperature,
completion cap, code extraction, visible-test validation and retries as the hierarchy. The one
difference is the context: every part's statement, reply and feedback stay in one message list,
so its prompts grow with the number of parts, which is what `bench horizon` measures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from evals.baseline import BASELINE_SPECIALIST
from graph.context import Context
from graph.state import Candidate, Part, Task
from hi_moe.llm.client import EndpointError
from hi_moe.llm.endpoints import client_for, endpoint_retry
from hi_moe.llm.extraction import extract_code
from hi_moe.llm.prompting import render
from hi_moe.routing.fleet import load_fleet
from hi_moe.sandbox.visible import check_code


@dataclass
class SingleContextRun:
    """What the baseline built: one code block per part, and its calls' prompt sizes."""

    solution: str
    parts_passed_visible: int
    prompt_tokens: list[int] = field(default_factory=list)
    completion_tokens: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    error: str = ""
    """Why it stopped early, e.g. the history outgrew the model's context window."""


def part_message(part: Part, index: int, total: int) -> HumanMessage:
    return HumanMessage(
        f"Part {index + 1} of {total}: implement `{part.name}` exactly as specified.\n\n"
        f"{part.statement}"
    )


def solve_single_context(context: Context, task: Task, thread_id: str) -> SingleContextRun:
    """Work through the task's parts in one growing conversation."""
    specialist = load_fleet(context.fleet_path).get(BASELINE_SPECIALIST)
    client, retry = client_for(context), endpoint_retry(context)
    messages: list[BaseMessage] = render(
        "single_context",
        context.prompt_token_cap,
        statement=task.statement,
        parts=", ".join(p.name for p in task.parts),
    )
    run = SingleContextRun(solution="", parts_passed_visible=0)
    codes: list[str] = []
    started = time.perf_counter()
    for index, part in enumerate(task.parts):
        messages.append(part_message(part, index, len(task.parts)))
        best_code, best_passed = "", -1
        for try_index in range(context.max_retries + 1):
            try:
                completion = client.complete(
                    tier="single_context",
                    model=specialist.model,
                    messages=messages,
                    temperature=specialist.temperature,
                    max_tokens=context.max_completion_tokens,
                    thread_id=thread_id,
                    retry=retry,
                )
            except EndpointError as exc:
                run.error = f"part {part.name}: {exc}"
                break
            run.prompt_tokens.append(completion.prompt_tokens)
            run.completion_tokens.append(completion.completion_tokens)
            messages.append(AIMessage(completion.text))
            candidate = Candidate(
                subgoal_id=index,
                part=part.name,
                try_index=try_index,
                specialist=specialist.name,
                code=extract_code(completion.text),
            )
            attempt = check_code(candidate, part, "".join(codes), context.test_timeout_s)
            if attempt.tests_passed > best_passed:
                best_code, best_passed = candidate.code, attempt.tests_passed
            if attempt.passed_all:
                run.parts_passed_visible += 1
                break
            messages.append(HumanMessage(f"It failed: {attempt.feedback}\nFix it."))
        if best_code:
            codes.append(best_code.strip() + "\n\n")
        if run.error:
            break
    run.solution = "".join(codes)
    run.wall_s = time.perf_counter() - started
    return run
