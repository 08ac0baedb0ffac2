"""One OpenAI-compatible endpoint; the `model` field of each call selects the LoRA adapter."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import httpx
import openai
from langchain_core.messages import AIMessage, BaseMessage, UsageMetadata
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from hi_moe.errors import UserError
from hi_moe.llm.call_log import CallLog, CallRecord

log = logging.getLogger(__name__)
E = TypeVar("E", bound=BaseException)


class EndpointError(UserError):
    """The endpoint is down, refused a request or does not serve a model; the message says which."""


class MalformedReply(Exception):
    """An HTTP 200 reply that is not a chat completion (raised while the response is read; the
    OpenAI client passes it on as it is or as the cause of its own error, by version)."""


RETRY_STATUS = frozenset({408, 409, 429})
"""HTTP statuses worth another try besides 5xx: timeout, conflict, rate limit."""
MAX_BACKOFF_S = 8.0
DETAIL_CHARS = 200
"""The longest piece of an endpoint's error (or of a malformed body) quoted in a message."""


@dataclass(frozen=True)
class Retry:
    """How a failed request is retried: `times` more tries, waiting `backoff_s`, then doubling."""

    times: int = 3
    backoff_s: float = 0.5

    def wait_s(self, retry: int) -> float:
        """The wait before retry number `retry` (0 for the first)."""
        return min(self.backoff_s * 2**retry, MAX_BACKOFF_S)


DEFAULT_RETRY = Retry()


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    replayed: bool = False
    """Found in the call log (a node re-run after a crash), not asked of the model again."""
    shared: bool = False
    """Another thread's reply to the very same greedy request (tokens and latency are its)."""


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
        retry: Retry = DEFAULT_RETRY,
        schema_style: str = "openai",
        extra_body: dict | None = None,
        diagnose: Callable[[], str | None] | None = None,
        weights: Mapping[str, str] | None = None,
    ) -> None:
        """`diagnose` tells why the endpoint is gone (e.g. the embedded server's exit), if it is;
        `weights` names what each model name runs on where several names serve the same weights
        (the embedded server's aliases), so the same request to two of them is one request."""
        self.base_url = base_url.rstrip("/")
        self.schema_style = schema_style
        self.extra_body = extra_body or {}
        self.api_key = api_key
        self.call_log = call_log
        self.timeout_s = timeout_s
        self.retry = retry
        self._http = httpx.Client(event_hooks={"response": [self._check_reply]})
        self.diagnose = diagnose or (lambda: None)
        self.weights = dict(weights or {})
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
                    api_key=SecretStr(self.api_key),
                    temperature=temperature,
                    max_completion_tokens=max_tokens,  # the alias of its max_tokens field
                    # langchain-openai sends max_completion_tokens, which llama.cpp's server
                    # ignores (it would generate until the context is full): send both.
                    extra_body={**self.extra_body, "max_tokens": max_tokens},
                    timeout=self.timeout_s,
                    max_retries=0,  # complete() retries, malformed replies included
                    http_client=self._http,
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
        retry: Retry | None = None,
        shared_with: Sequence[str] = (),
    ) -> Completion:
        """One chat completion; raises EndpointError once `retry` (default: the client's) is spent.

        A 5xx, 429, timeout, dropped connection or malformed reply is retried with backoff, each
        failed try logged; other errors (an unknown model, a bad request) fail at once. With a
        `replay_key` already in the call log, the logged reply comes back instead. A greedy
        request that one of the threads `shared_with` already made is answered with its reply,
        with no new call (its tokens and latency, `shared`). A sampled request carries a seed
        (`sampling_seed`), so its reply does not depend on what the server served before.
        """
        earlier = self.call_log.find_reply(replay_key) if replay_key else None
        if earlier is not None and earlier.reply is not None:
            log.info("%s: replaying a completed %s call from the call log", tier, model)
            return Completion(
                earlier.reply, earlier.prompt_tokens, earlier.completion_tokens, 0.0, replayed=True
            )
        served = self.weights.get(model, model)
        request = request_digest(served, temperature, max_tokens, response_format, messages)
        greedy_shared = temperature == 0 and shared_with
        same = self.call_log.find_shared(request, shared_with) if greedy_shared else None
        if same is not None and same.reply is not None:
            return Completion(
                same.reply, same.prompt_tokens, same.completion_tokens, same.latency_s, shared=True
            )
        extra: dict[str, Any] = {"response_format": response_format} if response_format else {}
        if temperature > 0:
            extra["seed"] = sampling_seed(request, self.call_log.times_made(request, thread_id))
        chat = self._chat(model, temperature, max_tokens)
        prompt = transcript(messages)
        retry = retry or self.retry
        for tries in range(1, retry.times + 2):
            start = time.perf_counter()
            try:
                message = chat.invoke(messages, **extra)
                break
            except openai.LengthFinishReasonError as exc:
                message = truncated_message(exc)
                break
            except (openai.APIError, httpx.HTTPError, MalformedReply) as exc:
                gone = self.diagnose() if connection_lost(exc) else None
                error = gone or describe_error(exc, self.base_url)
                latency = time.perf_counter() - start
                self.call_log.record(
                    CallRecord(
                        thread_id, tier, model, 0, 0, latency, ok=False, error=error, prompt=prompt
                    )
                )
                if gone or tries > retry.times or not worth_retrying(exc):
                    raise EndpointError(f"{error} (gave up after {tries} tries)") from exc
                wait = retry.wait_s(tries - 1)
                log.warning("%s call failed (%s); retry %d in %.1f s", tier, error, tries, wait)
                time.sleep(wait)
        latency = time.perf_counter() - start
        usage: UsageMetadata | dict[str, int] = message.usage_metadata or {}
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
                prompt=prompt,
                request=request,
            )
        )
        return completion

    def _check_reply(self, response: httpx.Response) -> None:
        """Refuse a 200 chat completion whose body is not one, before the OpenAI client reads it."""
        if response.status_code != 200 or not response.url.path.endswith("/chat/completions"):
            return
        response.read()
        defect = reply_defect(response.content)
        if defect is not None:
            raise MalformedReply(f"{self.base_url} answered HTTP 200 with {defect}")


def request_digest(
    model: str,
    temperature: float,
    max_tokens: int,
    response_format: dict | None,
    messages: list[BaseMessage],
) -> str:
    """A hash of everything a request sends (`model`: the name, or the weights it names): equal
    digests, the very same request."""
    payload = [model, temperature, max_tokens, response_format,
               [(message.type, message.content) for message in messages]]  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def sampling_seed(request: str, made_before: int) -> int:
    """The seed of a sampled request (a 32-bit number from its digest and how many times its
    thread made it before): the same samples in the same order whatever the server served
    before, where an unseeded server's next seed follows from its last one."""
    return int(hashlib.sha256(f"{request}:{made_before}".encode()).hexdigest()[:8], 16)


def transcript(messages: list[BaseMessage]) -> str:
    """The messages as the call log keeps them: a `[role]` line before each message's text."""
    return "\n\n".join(f"[{message.type}]\n{message.text}" for message in messages)


def reply_defect(body: bytes) -> str | None:
    """What makes `body` no chat completion, or None when it has the expected shape."""
    if not body.strip():
        return "an empty body"
    try:
        data = json.loads(body)
    except ValueError as exc:
        return f"a body that is not JSON ({exc}): {body[:80]!r}"
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__} instead of an object"
    if data.get("error"):
        return f"an error object: {json.dumps(data['error'])[:DETAIL_CHARS]}"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return "no choices"
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), str | None):
        return "a choice without a message"
    return None


def worth_retrying(exc: Exception) -> bool:
    """A 5xx, 429, 408 or 409 status, or no usable reply at all (timeout, reset, malformed)."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUS or exc.status_code >= 500
    return True


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


def in_chain(exc: BaseException | None, kind: type[E]) -> E | None:
    """The first exception of `kind` among `exc` and its causes."""
    while exc is not None and not isinstance(exc, kind):
        exc = exc.__cause__
    return exc


def connection_lost(exc: Exception) -> bool:
    """No HTTP answer came back (refused, reset, timed out): the server may be gone. An HTTP
    error status or a malformed body came from a live server."""
    return isinstance(exc, openai.APIConnectionError | httpx.TransportError)


def describe_error(exc: Exception, base_url: str) -> str:
    """A one-line reason a user can act on, naming the endpoint."""
    malformed = in_chain(exc, MalformedReply)
    if malformed is not None:
        return str(malformed)
    if isinstance(exc, openai.APITimeoutError):
        return f"request to {base_url} timed out"
    if isinstance(exc, openai.APIConnectionError):
        transport = in_chain(exc, httpx.HTTPError)
        if transport is None or isinstance(transport, httpx.ConnectError):
            return f"cannot connect to {base_url} (is the endpoint running?)"
        return f"{base_url} broke off the reply: {type(transport).__name__}: {transport}"
    if isinstance(exc, openai.APIStatusError):
        return f"{base_url} answered HTTP {exc.status_code}: {str(exc.message)[:DETAIL_CHARS]}"
    return f"{base_url}: {type(exc).__name__}: {str(exc)[:DETAIL_CHARS]}"
