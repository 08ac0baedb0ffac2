"""Cluster the failures of one or more runs: error type first, then similar error messages.

Run: hi-moe analyze .hi_moe/results/batch-*.json
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from evals.aggregate import read_results
from hi_moe.routing.embeddings import embed

SIMILAR = 0.8
"""Cosine similarity at which two error messages of one type join a cluster."""
MESSAGE_CHARS = 300
"""The first line of a failure message, as much as the analysis keeps of it."""
ERROR_TYPE = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Exit|Interrupt))\b")


@dataclass(frozen=True)
class Failure:
    problem_id: str
    kind: str
    message: str


@dataclass
class Cluster:
    kind: str
    example: str
    problems: list[str] = field(default_factory=list)
    centre: list[float] = field(default_factory=list)


def classify(message: str) -> str:
    """A coarse failure type: the exception name, a timeout, a wrong answer, or no code."""
    if found := ERROR_TYPE.search(message):
        return found.group(1)
    lowered = message.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout"
    if "expected" in lowered or "printed" in lowered:
        return "wrong answer"
    return "other" if message.strip() else "no feedback"


def failures_of(result: dict) -> Failure | None:
    """The last attempt's feedback (else the hidden-test detail) of a failed run."""
    if result["hidden"]["passed"]:
        return None
    attempts = result.get("attempts") or []
    message = (attempts[-1]["feedback"] if attempts else "") or result["hidden"]["detail"]
    message = message.strip().splitlines()[0][:MESSAGE_CHARS] if message.strip() else ""
    return Failure(result["problem_id"], classify(message), message)


def cluster(failures: list[Failure]) -> list[Cluster]:
    """Leader clustering within each failure type by message embedding; largest first."""
    clusters: list[Cluster] = []
    vectors = embed([f.message or f.kind for f in failures]) if failures else []
    for failure, vector in zip(failures, vectors, strict=True):
        for candidate in clusters:
            similarity = sum(a * b for a, b in zip(candidate.centre, vector, strict=True))
            if candidate.kind == failure.kind and similarity >= SIMILAR:
                candidate.problems.append(failure.problem_id)
                break
        else:
            clusters.append(Cluster(failure.kind, failure.message, [failure.problem_id], vector))
    return sorted(clusters, key=lambda c: -len(c.problems))


def analyze(paths: list[Path]) -> tuple[int, list[Cluster]]:
    results = [r for path in paths for r in read_results(path)]
    failures = [f for r in results if (f := failures_of(r)) is not None]
    return len(results), cluster(failures)


def render(total: int, clusters: list[Cluster]) -> str:
    failed = sum(len(c.problems) for c in clusters)
    lines = [f"{failed} of {total} runs failed their hidden tests, in {len(clusters)} clusters:"]
    for c in clusters:
        shown = ", ".join(c.problems[:5]) + (" ..." if len(c.problems) > 5 else "")
        lines.append(f"- {len(c.problems):3d} x {c.kind}: {c.example or '(no message)'}")
        lines.append(f"        {shown}")
    return "\n".join(lines)
