"""Merge result files of several runs into one table with means and spread.

Run: hi-moe aggregate .hi_moe/results/batch-*.json [more result files]
A file is a batch (a list of results) or one result, as `hi-moe solve` writes them; a batch's
unfinished rows (problems the endpoint gave up on) are left out.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from hi_moe.app.batch import UNFINISHED
from hi_moe.app.runs import RESULT_VERSION
from hi_moe.errors import UserError

METRICS = ("hidden_pass", "total_tokens", "llm_calls", "wall_s")


@dataclass(frozen=True)
class RunStats:
    name: str
    problems: int
    means: dict[str, float]


def read_results(path: Path) -> list[dict]:
    """The results in one file; another version or a corrupt file is a clear error."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read result file {path}: {exc}") from exc
    results = data if isinstance(data, list) else [data]
    results = [r for r in results if not (isinstance(r, dict) and r.get("status") in UNFINISHED)]
    for result in results:
        if not isinstance(result, dict) or result.get("version") != RESULT_VERSION:
            raise UserError(f"{path} is not a hi-moe result file of version {RESULT_VERSION}")
    if not results:
        raise UserError(f"{path} holds no results")
    return results


def run_stats(path: Path) -> RunStats:
    results = read_results(path)
    values = {
        "hidden_pass": [float(r["hidden"]["passed"]) for r in results],
        "total_tokens": [float(r["total_tokens"]) for r in results],
        "llm_calls": [float(r["llm_calls"]) for r in results],
        "wall_s": [float(r["wall_s"]) for r in results],
    }
    return RunStats(path.name, len(results), {k: statistics.mean(v) for k, v in values.items()})


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.3g} ± {deviation:.2g}"


def render(runs: list[RunStats]) -> str:
    lines = [
        "| run | problems | hidden pass rate | tokens/problem | calls/problem | seconds/problem |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        m = run.means
        lines.append(
            f"| {run.name} | {run.problems} | {m['hidden_pass']:.1%} | {m['total_tokens']:.0f} |"
            f" {m['llm_calls']:.1f} | {m['wall_s']:.1f} |"
        )
    cells = " | ".join(spread([r.means[k] for r in runs]) for k in METRICS)
    lines.append(f"| mean ± sd over {len(runs)} runs | {sum(r.problems for r in runs)} | {cells} |")
    return "\n".join(lines)
