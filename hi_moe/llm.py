"""One OpenAI-compatible endpoint; the `model` field of each call selects the LoRA adapter."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import httpx
import openai
from langchain_core.messages import AIMessage, BaseMessage
from langchain_openai import ChatOpenAI

from hi_moe.call_log import CallLog, CallRecord
from hi_moe.errors import UserError

log = logging.getLogger(__name__)


class EndpointError(UserError):
    """The endpoint is down, refused a request or does not serve a model; the message says which."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    replayed: bool = False
    """Found in the call log (a node re-run after a crash), not asked of the model again."""


def json_schema_format(name: str, schema: dict, style: str = "openai") -> dict:
    """A `response_format` asking for JSON matching `schema`.

    `openai` is the standard form (vLLM, OpenAI); `llama_cpp` is llama-cpp-python's server,
    which takes the schema inside a `json_object` format and compiles it to a grammar.
    """
    if style == "llama_cpp":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


class LLMClient:
    """Chat completions against one base URL, each call recorded in the call log."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        call_log: CallLog,
        timeout_s: float = 120.0,
        max_retries: int = 2,
        schema_style: str = "openai",
        extra_body: dict | None = None,
        diagnose: Callable[[], str | None] | None = None,
    ) -> None:
        """`diagnose` tells why the endpoint is gone (e.g. the embedded server's exit), if it is."""
        self.base_url = base_url.rstrip("/")
        self.schema_style = schema_style
        self.extra_body = extra_body or {}
        self.api_key = api_key
        self.call_log = call_log
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.diagnose = diagnose or (lambda: None)
        self._models: dict[tuple[str, float, int], ChatOpenAI] = {}
        self._lock = threading.Lock()

    @cached_property
    def served_models(self) -> frozenset[str]:
        """The model names `GET /models` lists (adapters included)."""
        url = f"{self.base_url}/models"
        try:
            response = httpx.get(
                url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=10.0
            )
        except httpx.HTTPError as exc:
            reason = self.diagnose() or f"endpoint {self.base_url} is unreachable: {exc}"
            raise EndpointError(reason) from exc
        if response.status_code != 200:
            raise EndpointError(
                f"endpoint {self.base_url} answered HTTP {response.status_code} to GET /models"
            )
        try:
            return frozenset(item["id"] for item in response.json()["data"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EndpointError(f"{url} did not return an OpenAI model list") from exc

    def require_models(self, names: set[str]) -> None:
        """Fail loudly when the endpoint does not serve one of `names` (no silent fallback)."""
        missing = sorted(names - self.served_models)
        if missing:
            raise EndpointError(
                f"endpoint {self.base_url} does not serve model(s) {', '.join(missing)}; "
                f"it serves: {', '.join(sorted(self.served_models)) or 'nothing'}"
            )

    def _chat(self, model: str, temperature: float, max_tokens: int) -> ChatOpenAI:
        key = (model, temperature, max_tokens)
        with self._lock:
            if key not in self._models:
                self._models[key] = ChatOpenAI(
                    model=model,
                    base_url=self.base_url,
                    api_key=self.api_key,
                    temperature=temperature,
                    max_tokens=max_tokens,
                    # langchain-openai sends max_completion_tokens, which llama.cpp's server
                    # ignores (it would generate until the context is full): send both.
                    extra_body={**self.extra_body, "max_tokens": max_tokens},
                    timeout=self.timeout_s,
                    max_retries=self.max_retries,
                )
            return self._models[key]

    def complete(
        self,
        *,
        tier: str,
        model: str,
        messages: list[BaseMessage],
        temperature: float,
        max_tokens: int,
        thread_id: str | None = None,
        response_format: dict | None = None,
        replay_key: str | None = None,
    ) -> Completion:
        """One chat completion; raises EndpointError (after the client's retries) on failure.

        With a `replay_key` already in the call log, the logged reply comes back instead.
        """
        earlier = self.call_log.find_reply(replay_key) if replay_key else None
        if earlier is not None and earlier.reply is not None:
            log.info("%s: replaying a completed %s call from the call log", tier, model)
            return Completion(
                earlier.reply, earlier.prompt_tokens, earlier.completion_tokens, 0.0, replayed=True
            )
        extra = {"response_format": response_format} if response_format else {}
        start = time.perf_counter()
        try:
            message = self._chat(model, temperature, max_tokens).invoke(messages, **extra)
        except openai.LengthFinishReasonError as exc:
            message = truncated_message(exc)
        except (openai.APIError, httpx.HTTPError) as exc:
            latency = time.perf_counter() - start
            error = self.diagnose() or describe_error(exc, self.base_url)
            self.call_log.record(
                CallRecord(thread_id, tier, model, 0, 0, latency, ok=False, error=error)
            )
            raise EndpointError(error) from exc
        latency = time.perf_counter() - start
        usage = message.usage_metadata or {}
        text = message.content if isinstance(message.content, str) else json.dumps(message.content)
        completion = Completion(
            text, usage.get("input_tokens", 0), usage.get("output_tokens", 0), latency
        )
        self.call_log.record(
            CallRecord(
                thread_id,
                tier,
                model,
                completion.prompt_tokens,
                completion.completion_tokens,
                latency,
                ok=bool(text.strip()),
                error=None if text.strip() else "empty completion",
                replay_key=replay_key,
                reply=text,
            )
        )
        return completion


def truncated_message(exc: openai.LengthFinishReasonError) -> AIMessage:
    """A structured reply cut at max_tokens, kept as text (it fails parsing, then repair)."""
    usage = exc.completion.usage
    return AIMessage(
        exc.completion.choices[0].message.content or "",
        usage_metadata={
            "input_tokens": usage.prompt_tokens if usage else 0,
            "output_tokens": usage.completion_tokens if usage else 0,
            "total_tokens": usage.total_tokens if usage else 0,
        },
    )


def describe_error(exc: Exception, base_url: str) -> str:
    """A one-line reason a user can act on."""
    if isinstance(exc, openai.APITimeoutError):
        return f"request to {base_url} timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot connect to {base_url} (is the endpoint running?)"
    if isinstance(exc, openai.APIStatusError):
        return f"{base_url} answered HTTP {exc.status_code}: {str(exc.message)[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"
