"""The base model adapters are trained on: a named embedded model, another GGUF, or HF.

transformers reads a GGUF file directly (dequantized to F32, Q/K rows un-permuted back to the
Hugging Face layout); that conversion takes most of a minute on 2 cores, so its result is
kept as a plain Hugging Face directory in a cache keyed by the GGUF file's SHA-256
(`~/.cache/hi-moe/base-models/<sha>`) and later trainings load that in a second.

Text is tokenized the way the server will tokenize it: for a GGUF base by llama.cpp itself
(transformers' converted tokenizer splits some whitespace runs differently, e.g. "\n\n").
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hi_moe.adapters.meta import file_sha256
from hi_moe.llm.models import MODELS, resolve_model


@dataclass(frozen=True)
class Base:
    """Where the base model comes from and how metadata names it."""

    source: str
    """A .gguf file, a Hugging Face repo id or a local model directory."""

    name: str
    sha256: str | None = None
    hf_id: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.source.endswith(".gguf")


def resolve_base(base: str | None) -> Base:
    """A named embedded model (default: the embedded default) or .gguf file, else an HF model."""
    if base is None or base in MODELS or base.endswith(".gguf"):
        model = resolve_model(base or "")
        return Base(str(model.path), model.path.name, file_sha256(model.path), model.hf_id)
    return Base(base, base, hf_id=base)


def cache_root() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "hi-moe" / "base-models"


def converted_dir(base: Base) -> Path:
    """A Hugging Face copy of a GGUF base, converted once and cached by its hash."""
    assert base.sha256 is not None
    target = cache_root() / base.sha256[:16]
    if (target / "config.json").is_file():
        return target
    # Lazy: torch and transformers are heavy and only training needs them.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(base.source)
    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
    # The weights are plain F32 after loading; the GGUF marker only blocks saving them.
    # (transformers does not declare the attribute: mypy sees torch's Module.__setattr__.)
    model.hf_quantizer = None  # type: ignore[assignment]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        tmp.chmod(0o755)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    return target


def load_base(base: Base, device: str):
    """(model, tokenizer) in F32 on `device`."""
    # Lazy: torch and transformers are heavy and only training needs them.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = str(converted_dir(base)) if base.is_gguf else base.source
    tokenizer = AutoTokenizer.from_pretrained(where)
    model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32)
    # transformers wraps `to` with functools.wraps, which loses the bound `self` for mypy.
    return model.to(device), tokenizer  # type: ignore[arg-type]


Encoder = Callable[[str], list[int]]


def text_encoder(base: Base, tokenizer) -> Encoder:
    """Text -> token ids exactly as the serving engine tokenizes (special tokens parsed)."""
    if base.is_gguf:
        import llama_cpp  # lazy: heavy native library, GGUF bases only

        vocab = llama_cpp.Llama(model_path=base.source, vocab_only=True, verbose=False)
        return lambda text: vocab.tokenize(text.encode(), add_bos=False, special=True)
    return lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
