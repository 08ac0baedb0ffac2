"""Routing benchmark: top-1 accuracy, confusion matrix and latency on the labeled routing set.

Run: hi-moe bench routing [--split test|dev|all]

The dev split is among the fleet's examples, so a dev task is scored leave-one-out: by a
classifier trained without that task's document. Test tasks are never among the examples.
Latency is always the full `Router.score` call (one forward pass and the classifier), timed
before any leave-one-out classifier is trained.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from evals.bench_common import Tick, markdown_table, no_tick
from evals.stats import percentile
from hi_moe.errors import UserError
from hi_moe.routing.classifier import Classifier
from hi_moe.routing.embeddings import embed_matrix
from hi_moe.routing.fleet import load_fleet
from hi_moe.routing.router import Router

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


def held_out_scores(router: Router, text: str, scores: dict[str, float]) -> dict[str, float]:
    """`scores` if `text` is not a registry document, else leave-one-out scores without it."""
    if text not in router.documents.texts:
        return scores
    classifier = Classifier(router.documents.without(text), router.fleet.names)
    return classifier.score(embed_matrix([text])[0])


def run(
    fleet_path: str, store_dir: Path, split: str = "test", tick: Tick = no_tick
) -> RoutingReport:
    fleet = load_fleet(fleet_path)
    router = Router(fleet, store_dir)
    router.score("warm up the embedding model")
    rows = load_routing_set(split)
    names = fleet.names
    scores, latencies = [], []
    for done, row in enumerate(rows, start=1):
        started = time.perf_counter()
        scores.append(router.score(row["task"]))
        latencies.append((time.perf_counter() - started) * 1000)
        tick(done, len(rows))
    confusion = {label: dict.fromkeys(names, 0) for label in names}
    for row, row_scores in zip(rows, scores, strict=True):
        predicted = next(iter(held_out_scores(router, row["task"], row_scores)))
        confusion[row["specialist"]][predicted] += 1
    correct = sum(confusion[label][label] for label in names)
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
    headline = (
        f"routing on {report.examples} {report.split} examples: top-1 accuracy "
        f"{report.accuracy:.1%}, latency p50 {report.p50_ms:.1f} ms, p95 {report.p95_ms:.1f} ms"
    )
    matrix = markdown_table(
        ["label \\ predicted", *names],
        ([label, *(report.confusion[label][p] for p in names)] for label in names),
    )
    return f"{headline}\n\n{matrix}"
