"""Estimated cost of LLM calls from a price table (USD per million tokens, by model name)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hi_moe.errors import UserError
from hi_moe.llm.call_log import CallRecord


@dataclass(frozen=True)
class Price:
    prompt: float
    completion: float


@cache
def load_prices(path: str) -> dict[str, Price]:
    """The price table; a missing `default` entry means free."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"price table {path} does not exist")
    try:
        data = tomllib.loads(file.read_text())
        prices = {
            model: Price(float(entry.get("prompt", 0.0)), float(entry.get("completion", 0.0)))
            for model, entry in data.items()
        }
    except (tomllib.TOMLDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise UserError(f"price table {path} is invalid: {exc}") from exc
    prices.setdefault("default", Price(0.0, 0.0))
    return prices


def call_cost(call: CallRecord, prices: dict[str, Price]) -> float:
    price = prices.get(call.model, prices["default"])
    return (call.prompt_tokens * price.prompt + call.completion_tokens * price.completion) / 1e6


def cost_by_tier(calls: list[CallRecord], prices: dict[str, Price]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for call in calls:
        totals[call.tier] = totals.get(call.tier, 0.0) + call_cost(call, prices)
    return totals
