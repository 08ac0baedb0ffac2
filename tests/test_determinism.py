"""The embedded server decodes the same greedy request the same way whatever its KV cache holds
(hi_moe/llm/aligned_prefix.py), on the real Qwen2.5-Coder-0.5B."""

from __future__ import annotations

import httpx
import pytest

from graph.context import Context
from hi_moe.llm.aligned_prefix import aligned_reuse, clean_after, common_prefix
from hi_moe.llm.local_server import LocalServer
from hi_moe.llm.prompting import plain_prompt
from hi_moe.problems.problem import humaneval_problems

MODEL = "qwen2.5-coder-0.5b"
PROMPTS = 20
REPLY_TOKENS = 48
ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def test_common_prefix_counts_the_shared_leading_tokens():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2, 3]) == 2


def test_reuse_stops_at_the_last_whole_batch_of_clean_tokens():
    cached = list(range(300))
    # the prompt shares 250 tokens, 256 were evaluated in aligned batches of 64: keep 192
    assert aligned_reuse(cached, 256, cached[:250] + [-1], 64) == 192
    # only 128 cached tokens are clean (the rest was a partial batch and generated tokens)
    assert aligned_reuse(cached, 128, cached[:250] + [-1], 64) == 128
    # the very same prompt again: at least its last token is evaluated, in its own batch
    assert aligned_reuse(cached, 256, cached[:256], 64) == 192
    assert aligned_reuse(cached, 256, [9] + cached[1:], 64) == 0


def test_clean_tokens_are_the_whole_batches_of_the_prompt():
    assert clean_after(130, 64) == 128
    assert clean_after(63, 64) == 0


def _messages(problem_index: int) -> list[dict]:
    statement = humaneval_problems()[problem_index].statement
    rendered = plain_prompt("code", statement, Context().prompt_token_cap)
    return [{"role": ROLES[m.type], "content": str(m.content)} for m in rendered]


def _reply(server: LocalServer, messages: list[dict]) -> tuple[str, tuple[float, ...]]:
    """The greedy reply and the log-probability of each of its tokens: equal floats mean the
    very same logits, a stricter check than equal text."""
    body = {"model": "python", "messages": messages, "max_tokens": REPLY_TOKENS,
            "temperature": 0, "logprobs": True, "top_logprobs": 1}  # fmt: skip
    reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=300)
    reply.raise_for_status()
    choice = reply.json()["choices"][0]
    logprobs = tuple(token["logprob"] for token in choice["logprobs"]["content"])
    assert logprobs, "the server returned no log-probabilities"
    return choice["message"]["content"], logprobs


@pytest.mark.integration
def test_a_greedy_prompt_decodes_the_same_cold_after_others_and_after_itself(tmp_path):
    prompts = [_messages(index) for index in range(PROMPTS)]
    with LocalServer.for_context(Context(home=str(tmp_path), model=MODEL)) as server:
        # first pass: each prompt after a different one (it shares only the chat template)
        first = [_reply(server, messages) for messages in prompts]
        after_others = [_reply(server, messages) for messages in reversed(prompts)][::-1]
        after_itself = []
        for messages in prompts:
            _reply(server, messages)
            after_itself.append(_reply(server, messages))
        tokens = server.prompt_tokens()
    assert after_others == first
    assert after_itself == first
    # the repeats reused their cached prefixes, in whole batches
    assert tokens.evaluated < tokens.sent
