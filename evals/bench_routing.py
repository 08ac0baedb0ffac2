"""Routing benchmark: top-1 accuracy, confusion matrix and latency on the labeled routing set.

Run: hi-moe bench routing [--split test|dev|all]
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from evals.stats import percentile
from hi_moe.errors import UserError
from hi_moe.fleet import load_fleet
from hi_moe.router import Router

ROUTING_SET = Path(__file__).resolve().parent.parent / "datasets" / "routing.jsonl"


@dataclass
class RoutingReport:
    split: str
    examples: int
    accuracy: float
    confusion: dict[str, dict[str, int]]
    """confusion[label][predicted] = count"""
    p50_ms: float
    p95_ms: float


def load_routing_set(split: str) -> list[dict]:
    rows = [json.loads(line) for line in ROUTING_SET.read_text().splitlines() if line.strip()]
    chosen = [r for r in rows if split == "all" or r["split"] == split]
    if not chosen:
        raise UserError(f"no routing examples in split {split!r} (use dev, test or all)")
    return chosen


def run(fleet_path: str, store_dir: Path, split: str = "test") -> RoutingReport:
    fleet = load_fleet(fleet_path)
    router = Router(fleet, store_dir)
    router.score("warm up the embedding model")
    rows = load_routing_set(split)
    names = fleet.names
    confusion = {label: dict.fromkeys(names, 0) for label in names}
    latencies, correct = [], 0
    for row in rows:
        started = time.perf_counter()
        scores = router.score(row["task"])
        latencies.append((time.perf_counter() - started) * 1000)
        predicted = next(iter(scores))
        confusion[row["specialist"]][predicted] += 1
        correct += predicted == row["specialist"]
    return RoutingReport(
        split=split,
        examples=len(rows),
        accuracy=correct / len(rows),
        confusion=confusion,
        p50_ms=statistics.median(latencies),
        p95_ms=percentile(latencies, 0.95),
    )


def render(report: RoutingReport) -> str:
    """The report as Markdown: headline numbers and the confusion matrix."""
    names = list(report.confusion)
    lines = [
        f"routing on {report.examples} {report.split} examples: top-1 accuracy "
        f"{report.accuracy:.1%}, latency p50 {report.p50_ms:.1f} ms, p95 {report.p95_ms:.1f} ms",
        "",
        "| label \\ predicted | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label in names:
        cells = " | ".join(str(report.confusion[label][p]) for p in names)
        lines.append(f"| {label} | {cells} |")
    return "\n".join(lines)
