"""Token usage and estimated cost per tier, model and thread, from the call log.

Run: hi-moe costs [THREAD ...]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evals.figures import png_figure
from hi_moe.llm.call_log import CallRecord
from hi_moe.llm.pricing import Price, call_cost


@dataclass(frozen=True)
class CostRow:
    key: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def group(
    calls: list[CallRecord], key: Callable[[CallRecord], str], prices: dict[str, Price]
) -> list[CostRow]:
    """Calls summed by `key`, largest token count first."""
    totals: dict[str, list[float]] = {}
    for call in calls:
        row = totals.setdefault(key(call), [0, 0, 0, 0.0])
        row[0] += 1
        row[1] += call.prompt_tokens
        row[2] += call.completion_tokens
        row[3] += call_cost(call, prices)
    rows = [CostRow(k, int(v[0]), int(v[1]), int(v[2]), v[3]) for k, v in totals.items()]
    return sorted(rows, key=lambda r: -(r.prompt_tokens + r.completion_tokens))


def render(title: str, rows: list[CostRow]) -> str:
    lines = [
        f"| {title} | calls | prompt tokens | completion tokens | est. cost (USD) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.key} | {r.calls} | {r.prompt_tokens} | {r.completion_tokens} | {r.cost_usd:.4f} |"
        for r in rows
    ]
    return "\n".join(lines)


def chart(by_tier: list[CostRow], path: Path) -> Path:
    """Stacked prompt/completion tokens per tier."""
    with png_figure(path, figsize=(7, 3.5)) as (_, axis):
        names = [r.key for r in by_tier]
        prompt = [r.prompt_tokens for r in by_tier]
        axis.bar(names, prompt, label="prompt tokens", color="#3b75af")
        axis.bar(names, [r.completion_tokens for r in by_tier], bottom=prompt,
                 label="completion tokens", color="#e1812c")  # fmt: skip
        axis.set_title("tokens per tier")
        axis.legend()
    return path
