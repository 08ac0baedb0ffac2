"""Child-process entry point of the embedded server: llama_cpp.server with a sharing proxy.

llama-cpp-python's stock proxy reloads the model whenever the requested alias changes and
silently answers unknown names with its default model. This proxy keeps one loaded model per
distinct (GGUF, LoRA) pair, shared by every alias that uses it, and refuses unknown names.
Each model reuses the prefix a prompt shares with the previous one (its KV cache) only in whole,
aligned batches (hi_moe/llm/aligned_prefix.py), so a greedy reply never depends on what the
cache held, and a retry still pays mostly for its new tokens. A meter counts the prompt tokens
sent, those evaluated, and those llama-cpp-python's unaligned reuse would have evaluated (the
cost of determinism). GET /hi-moe/prompt-tokens answers the totals.
The server exits when the process that started it is gone, however that one died.

Run as: python -m hi_moe.llm.llama_launcher CONFIG.json
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import llama_cpp
import llama_cpp.server.app as server_app
import uvicorn
from fastapi import HTTPException
from llama_cpp.server.model import LlamaProxy
from llama_cpp.server.settings import ConfigFileSettings, ModelSettings, ServerSettings

from hi_moe.llm.aligned_prefix import aligned_reuse, clean_after, common_prefix
from hi_moe.llm.local_server import PROMPT_TOKENS_ROUTE


class PromptMeter:
    """Prompt tokens sent to the loaded models, those they evaluated (not reused from the KV
    cache) and those an unaligned reuse would have evaluated. Each model reuses its cache only
    in aligned whole batches. The server answers one request at a time: no lock needed."""

    def __init__(self) -> None:
        self.sent = 0
        self.evaluated = 0
        self.unaligned = 0
        self._prompt_pending = False

    def attach(self, llama: llama_cpp.Llama) -> None:
        """Align reuse and count through this model's `generate` (the prompt sent) and its
        first `eval` after it (what is left once the reused prefix is skipped)."""
        generate, evaluate = llama.generate, llama.eval
        clean = 0
        """The cached tokens evaluated in aligned full batches."""

        def counted_generate(
            tokens: Sequence[int], *args: Any, **kwargs: Any
        ) -> Generator[int, Sequence[int] | None, None]:
            nonlocal clean
            tokens = list(tokens)
            cached = llama.input_ids[: llama.n_tokens].tolist()
            self.unaligned += len(tokens) - min(common_prefix(cached, tokens), len(tokens) - 1)
            # llama-cpp-python reuses the common prefix of the first `n_tokens` cached tokens.
            llama.n_tokens = aligned_reuse(cached, clean, tokens, llama.n_batch)
            clean = clean_after(len(tokens), llama.n_batch)
            self.sent += len(tokens)
            self._prompt_pending = True
            return generate(tokens, *args, **kwargs)

        def counted_eval(tokens: Sequence[int]) -> None:
            if self._prompt_pending:
                self.evaluated += len(tokens)
                self._prompt_pending = False
            return evaluate(tokens)

        # Instance attributes shadow the methods llama_cpp calls through `self`.
        llama.generate = counted_generate  # type: ignore[method-assign]
        llama.eval = counted_eval  # type: ignore[method-assign]

    def totals(self) -> dict[str, int]:
        return {"sent": self.sent, "evaluated": self.evaluated, "unaligned": self.unaligned}


meter = PromptMeter()


class SharedLlamaProxy(LlamaProxy):
    """Aliases map to shared model instances; an alias nobody configured is an error."""

    def __init__(self, models: list[ModelSettings]) -> None:
        self._model_settings_dict = {m.model_alias or m.model: m for m in models}
        self._default_model_alias = next(iter(self._model_settings_dict))
        self._loaded: dict[tuple[str, str | None], llama_cpp.Llama] = {}
        self(self._default_model_alias)

    def __call__(self, model: str | None = None) -> llama_cpp.Llama:
        alias = model or self._default_model_alias
        if alias not in self._model_settings_dict:
            raise HTTPException(status_code=404, detail=f"model {alias!r} is not served here")
        settings = self._model_settings_dict[alias]
        key = (settings.model, settings.lora_path)
        if key not in self._loaded:
            llama = self.load_llama_from_model_settings(settings)
            meter.attach(llama)
            self._loaded[key] = llama
        return self._loaded[key]

    def free(self) -> None:
        for llama in self._loaded.values():
            llama.close()
        self._loaded.clear()


def exit_with_parent(poll_s: float = 1.0) -> None:
    """Exit at once when the parent process dies (a SIGKILLed run must not leave a model
    generating in the background): an orphan is re-parented, so its parent id changes."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def main(config_path: str) -> None:
    exit_with_parent()
    config = ConfigFileSettings.model_validate_json(Path(config_path).read_text())
    # A deliberate monkeypatch of llama_cpp's proxy class, which mypy sees as a type.
    server_app.LlamaProxy = SharedLlamaProxy  # type: ignore[misc]
    app = server_app.create_app(
        server_settings=ServerSettings.model_validate(config), model_settings=config.models
    )
    app.get(PROMPT_TOKENS_ROUTE)(meter.totals)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1])
