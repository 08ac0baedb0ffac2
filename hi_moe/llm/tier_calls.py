"""The LLM calls one node makes: text or schema-checked JSON, with usage summed per tier."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import TypedDict, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from graph.state import TierUsage, Usage
from hi_moe.llm.client import (
    DEFAULT_RETRY,
    LLMClient,
    Retry,
    json_schema_format,
    request_digest,
)
from hi_moe.llm.prompting import load_text

log = logging.getLogger(__name__)
Schema = TypeVar("Schema", bound=BaseModel)
JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
JSON_MAX_TOKENS = 256
"""Plans and decisions are short; a cap also bounds grammar-constrained decoding on llama.cpp."""
ERROR_CHARS = 200
"""The first line of a parse error, as much as the repair prompt quotes of it."""
UNUSABLE_REPLY_CHARS = 1000
"""How much of an unusable JSON reply the repair prompt shows back to the model."""


class CallSettings(TypedDict):
    """The sampling settings of one call: keyword arguments of LLMClient.complete."""

    temperature: float
    max_tokens: int
    response_format: dict | None


def parse_json(text: str, schema: type[Schema]) -> Schema:
    """The first JSON object in `text`, validated against `schema` (raises ValueError)."""
    match = JSON_OBJECT.search(text)
    if match is None:
        raise ValueError("no JSON object in the reply")
    try:
        return schema.model_validate(json.loads(match.group(0)))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(str(exc).splitlines()[0][:ERROR_CHARS]) from exc


@dataclass
class TierCalls:
    """Calls of one tier within one node run; `usage` and `format_errors` go into the state."""

    client: LLMClient
    tier: str
    model: str
    temperature: float
    max_tokens: int
    thread_id: str | None
    replay_scope: str | None = None
    """The graph task this node run is (stable across a crash); None turns replay off."""
    retry: Retry = DEFAULT_RETRY
    usage: Usage = field(default_factory=Usage)
    format_errors: int = 0
    _sequence: int = 0

    def replay_key(self, messages: list[BaseMessage], settings: CallSettings) -> str | None:
        """Where this call's reply is logged: the task, the call's position in it, the prompt."""
        if self.replay_scope is None:
            return None
        self._sequence += 1
        digest = request_digest(self.model, messages=messages, **settings)[:24]
        return f"{self.replay_scope}|{self.tier}|{self._sequence}|{digest}"

    def text(
        self,
        messages: list[BaseMessage],
        response_format: dict | None = None,
        max_tokens: int | None = None,
    ) -> str:
        settings: CallSettings = {
            "temperature": self.temperature,
            "max_tokens": max_tokens or self.max_tokens,
            "response_format": response_format,
        }
        completion = self.client.complete(
            tier=self.tier,
            model=self.model,
            messages=messages,
            thread_id=self.thread_id,
            replay_key=self.replay_key(messages, settings),
            retry=self.retry,
            **settings,
        )
        tier_usage = self.usage.by_tier.setdefault(self.tier, TierUsage())
        tier_usage.calls += 1
        tier_usage.prompt_tokens += completion.prompt_tokens
        tier_usage.completion_tokens += completion.completion_tokens
        return completion.text

    def json(
        self, messages: list[BaseMessage], schema: type[Schema], example: str
    ) -> Schema | None:
        """A reply parsed into `schema`: one repair try, then None (the caller's fallback)."""
        response_format = json_schema_format(
            schema.__name__, schema.model_json_schema(), self.client.schema_style
        )
        cap = min(self.max_tokens, JSON_MAX_TOKENS)
        reply = self.text(messages, response_format, cap)
        try:
            return parse_json(reply, schema)
        except ValueError as first_error:
            self.format_errors += 1
            repair = load_text("repair").format(error=first_error, example=example)
            retry = [*messages, AIMessage(reply[:UNUSABLE_REPLY_CHARS]), HumanMessage(repair)]
            reply = self.text(retry, response_format, cap)
        try:
            return parse_json(reply, schema)
        except ValueError as second_error:
            self.format_errors += 1
            log.warning(
                "%s: unusable JSON after one repair (%s); using fallback", self.tier, second_error
            )
            return None
