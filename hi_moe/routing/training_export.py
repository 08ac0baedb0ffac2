"""Export settled routing decisions as JSONL for training a router, split by thread."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from hi_moe.errors import UserError
from hi_moe.routing.log import RoutingDecision, RoutingLog


@dataclass(frozen=True)
class ExportSummary:
    train: int
    validation: int
    skipped: int
    """Decisions whose outcome is not known yet (run unfinished): never exported."""


def in_validation(thread_id: str | None, fraction: float) -> bool:
    """Deterministic split by thread, so one run never lands on both sides."""
    digest = hashlib.sha256((thread_id or "").encode()).digest()
    return digest[0] / 256 < fraction


def example(decision: RoutingDecision) -> dict:
    outcome = decision.outcome or {}
    winners = [name for name in decision.chosen if outcome.get(name)]
    return {
        "task": decision.task,
        "chosen": decision.chosen,
        "passed": outcome,
        "label": winners[0] if winners else None,
        "scores": decision.scores,
        "mode": decision.mode,
        "thread_id": decision.thread_id,
    }


def export_routing(log_path: Path, out_dir: Path, validation_fraction: float) -> ExportSummary:
    if not log_path.exists():
        raise UserError(f"no routing log at {log_path}: solve some problems first")
    if not 0 <= validation_fraction < 1:
        raise UserError("--validation-fraction must be in [0, 1)")
    decisions = RoutingLog(log_path).decisions()
    settled = [d for d in decisions if d.outcome is not None]
    out_dir.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[str]] = {"train": [], "validation": []}
    for decision in settled:
        side = "validation" if in_validation(decision.thread_id, validation_fraction) else "train"
        splits[side].append(json.dumps(example(decision)))
    for side, lines in splits.items():
        (out_dir / f"routing_{side}.jsonl").write_text("".join(f"{line}\n" for line in lines))
    return ExportSummary(
        len(splits["train"]), len(splits["validation"]), len(decisions) - len(settled)
    )
