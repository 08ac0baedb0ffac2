"""Prefix reuse that cannot change a reply: the KV cache is reused only in whole batches.

llama.cpp evaluates a prompt in batches of `n_batch` tokens from position 0, and the numbers it
computes for a token depend on the batch it was evaluated in (its size and neighbours pick the
kernels). llama-cpp-python's own reuse keeps the longest cached prefix and evaluates the rest
from wherever it starts (at least the last token again, alone), so the same greedy prompt could
decode differently after other prompts than cold. Here a request reuses only the cached tokens
that were evaluated in full batches aligned as a cold evaluation aligns them, and evaluates the
rest from that boundary in the same batches: the logits, and so every greedy reply, are those of
a cold evaluation, whatever the cache held. What it costs is the partial batch at the end of the
shared prefix, evaluated again (`hi-moe check-model --speed` shows the counts).
"""

from __future__ import annotations

from collections.abc import Sequence


def common_prefix(cached: Sequence[int], prompt: Sequence[int]) -> int:
    """How many leading tokens the two sequences share."""
    shared = 0
    for old, new in zip(cached, prompt, strict=False):
        if old != new:
            break
        shared += 1
    return shared


def aligned_reuse(cached: Sequence[int], clean: int, prompt: Sequence[int], batch: int) -> int:
    """How many leading tokens of `prompt` to keep from the cache: its common prefix with the
    cached tokens, within the `clean` ones evaluated in aligned full batches, leaving at least
    one token to evaluate, rounded down to a whole number of batches."""
    shared = min(common_prefix(cached[:clean], prompt), len(prompt) - 1)
    return shared - shared % batch


def clean_after(prompt_tokens: int, batch: int) -> int:
    """The cached tokens evaluated in aligned full batches once a prompt is evaluated: its whole
    batches (the partial one at the end and the generated tokens are evaluated differently)."""
    return prompt_tokens - prompt_tokens % batch
