"""Prompt and generation speed of a served model, in tokens per second.

Two requests on one prompt: one token (the prompt's processing dominates), then a long answer
on the same prompt (llama.cpp reuses the processed prefix, so generation dominates). Each rate
is tokens over the request's wall time, HTTP overhead included. On the embedded server, a third
request shaped like a retry (the prompt with failure feedback appended) shows how much of its
prompt the KV cache spares.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from hi_moe.llm.local_server import LocalServer, PromptTokens

PROMPT = (
    "Count from 1 to 300, one number per line, then write a Python function that returns the "
    "sum of the squares of a list of integers. Here is some context you may ignore:\n"
    + "\n".join(f"def helper_{i}(x):\n    return x * {i} + {i * i}" for i in range(40))
)
GENERATED_TOKENS = 96
RETRY_FEEDBACK = "\n\nYour previous answer failed: sum_of_squares([1, 2]) returned 3, expected 5."


@dataclass(frozen=True)
class Speed:
    prompt_tokens: int
    prompt_tokens_per_s: float
    generated_tokens: int
    generated_tokens_per_s: float


def timed_completion(
    base_url: str, model: str, max_tokens: int, prompt: str = PROMPT
) -> tuple[dict, float]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    start = time.perf_counter()
    reply = httpx.post(f"{base_url}/chat/completions", json=body, timeout=600)
    reply.raise_for_status()
    return reply.json()["usage"], time.perf_counter() - start


def measure(base_url: str, model: str) -> Speed:
    """The model's prompt and generation rates on this machine, as it is loaded now."""
    prompt, prompt_s = timed_completion(base_url, model, 1)
    answer, answer_s = timed_completion(base_url, model, GENERATED_TOKENS)
    return Speed(
        prompt["prompt_tokens"],
        round(prompt["prompt_tokens"] / prompt_s, 1),
        answer["completion_tokens"],
        round(answer["completion_tokens"] / answer_s, 1),
    )


def retry_prompt_reuse(server: LocalServer, model: str) -> PromptTokens:
    """The prompt tokens a retry-shaped request sends and evaluates right after its prompt."""
    timed_completion(server.base_url, model, 1)
    before = server.prompt_tokens()
    timed_completion(server.base_url, model, 1, PROMPT + RETRY_FEEDBACK)
    after = server.prompt_tokens()
    return PromptTokens(
        after.sent - before.sent,
        after.evaluated - before.evaluated,
        after.unaligned - before.unaligned,
    )
