"""Horizon benchmark: prompt tokens per call and parts solved against the number of parts k.

For each k, the first `pool` HumanEval problems are cut into pool/k bundles of k parts, so
every k covers the same problems. The hierarchy and the single-context baseline each work
through every bundle; the assembled module is graded with each part's hidden tests. Reported
per system and k: prompt tokens per call (max and mean), total tokens, parts solved. A bounded
context shows as a flat max-tokens line; a growing one climbs with k. Each finished bundle is
saved at once, so a run given a work directory (`--run-id`) resumes where it was cut.
Run: hi-moe bench horizon [--mock] [--ks 1,2,4,8,16] [--pool 16] [--run-id ID]
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from evals.bench_common import Tick, markdown_table, no_tick
from evals.bench_harness import checkpoint_bytes
from evals.figures import png_figure
from evals.single_context import solve_single_context
from graph.context import Context
from hi_moe.app.runs import model_endpoint, new_thread_id, open_graph_and_endpoint, run_thread
from hi_moe.errors import UserError
from hi_moe.llm.client import EndpointError
from hi_moe.llm.endpoints import client_for
from hi_moe.llm.models import model_label
from hi_moe.problems.grading import grade
from hi_moe.problems.projects import Project, humaneval_bundle

DEFAULT_KS = (1, 2, 4, 8, 16)
SYSTEMS = ("hierarchy", "single_context")
BENCH_SETTINGS: dict[str, Any] = {
    "max_retries": 1,
    "max_reroutes": 0,
    "max_replans": 0,
    "routines_shown": 0,
}
"""The same self-corrections for both systems, fewer than a normal run to bound the real model's
time on 2 x 16 x len(ks) parts; no routine cache, which the baseline lacks and which would add
retrieved text to the architect's prompts depending on what earlier bundles solved."""


@dataclass(frozen=True)
class BundleRun:
    """One bundle worked through by one system."""

    prompts: list[tuple[str, int]]
    """(tier, prompt tokens) of every completed call, in order."""
    total_tokens: int
    parts_solved: int
    wall_s: float
    error: str


Record = Callable[[Project, BundleRun], None]
"""Called with each bundle as a system finishes it."""


class BundleStore:
    """The finished bundle runs of one horizon run, in one JSON file written after each, so a
    cut run resumes; a file made with another pool or model is refused, not mixed."""

    def __init__(self, path: Path, run: dict[str, Any]) -> None:
        self.path = path
        self.run = run
        self.runs: dict[str, BundleRun] = {}
        if path.exists():
            saved = json.loads(path.read_text())
            if saved["run"] != run:
                raise UserError(
                    f"{path} was made with {saved['run']}, not {run}: give another --run-id"
                )
            for key, found in saved["runs"].items():
                prompts = [(tier, tokens) for tier, tokens in found.pop("prompts")]
                self.runs[key] = BundleRun(prompts=prompts, **found)

    def add(self, key: str, run: BundleRun) -> None:
        self.runs[key] = run
        data = {"run": self.run, "runs": {k: asdict(v) for k, v in self.runs.items()}}
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(data))
        partial.replace(self.path)


@dataclass
class HorizonRow:
    system: str
    k: int
    bundles: int
    calls: int
    max_prompt_tokens: int
    mean_prompt_tokens: float
    total_tokens: int
    parts_solved: int
    parts_total: int
    wall_s: float
    errors: list[str]
    max_prompt_by_tier: dict[str, int]
    """Which tier's prompt is the largest: the max prompt tokens per call of each tier."""
    checkpoint_bytes_per_step: float | None = None
    """Hierarchy only: checkpoint store bytes over checkpoints written, for all its bundles."""


def bundles_for(k: int, pool: int) -> list[Project]:
    if pool % k:
        raise UserError(f"--pool {pool} is not a multiple of k={k}: every k must cover it exactly")
    return [humaneval_bundle(k, start) for start in range(0, pool, k)]


def summarise(system: str, k: int, runs: list[BundleRun]) -> HorizonRow:
    """One row of a system at k from its bundles' runs."""
    prompts = [tokens for run in runs for _, tokens in run.prompts]
    by_tier: dict[str, int] = {}
    for run in runs:
        for tier, tokens in run.prompts:
            by_tier[tier] = max(by_tier.get(tier, 0), tokens)
    return HorizonRow(
        system=system,
        k=k,
        bundles=len(runs),
        calls=len(prompts),
        max_prompt_tokens=max(prompts, default=0),
        mean_prompt_tokens=round(statistics.fmean(prompts), 1) if prompts else 0.0,
        total_tokens=sum(run.total_tokens for run in runs),
        parts_solved=sum(run.parts_solved for run in runs),
        parts_total=len(runs) * k,
        wall_s=round(sum(run.wall_s for run in runs), 2),
        errors=[run.error for run in runs if run.error],
        max_prompt_by_tier=by_tier,
    )


def run_hierarchy(
    context: Context, home: Path, bundles: list[Project], mock: bool, record: Record
) -> None:
    settings = replace(context, home=str(home))
    store = str(home / "checkpoints.sqlite")
    with open_graph_and_endpoint(settings, store, bundles if mock else None) as (graph, live):
        log = client_for(live).call_log
        for bundle in bundles:
            thread_id = new_thread_id(bundle.id)
            started = time.perf_counter()
            try:
                state = run_thread(graph, thread_id, live, {"task": bundle.visible_task()})
                solution, error = state.result.solution if state.result else "", ""
            except EndpointError as exc:
                solution, error = "", f"{bundle.id}: {exc}"
            verdict = grade(bundle, solution)
            calls = [c for c in log.for_thread(thread_id) if c.ok]
            prompts = [(c.tier, c.prompt_tokens) for c in calls]
            total = sum(c.prompt_tokens + c.completion_tokens for c in calls)
            wall = time.perf_counter() - started
            record(bundle, BundleRun(prompts, total, verdict.tests_passed, wall, error))


def run_single_context(
    context: Context, home: Path, bundles: list[Project], mock: bool, record: Record
) -> None:
    with model_endpoint(replace(context, home=str(home)), bundles if mock else None) as live:
        for bundle in bundles:
            thread_id = new_thread_id(bundle.id)
            run = solve_single_context(live, bundle.visible_task(), thread_id)
            verdict = grade(bundle, run.solution)
            prompts = [("single_context", tokens) for tokens in run.prompt_tokens]
            total = sum(run.prompt_tokens) + sum(run.completion_tokens)
            record(bundle, BundleRun(prompts, total, verdict.tests_passed, run.wall_s, run.error))


def bundle_key(system: str, k: int, bundle: Project) -> str:
    """A finished bundle's key in the store: the same bundle id recurs for every system."""
    return f"{system}/{k}/{bundle.id}"


def horizon(
    ks: tuple[int, ...] = DEFAULT_KS,
    pool: int = 16,
    mock: bool = False,
    context: Context | None = None,
    tick: Tick = no_tick,
    work: Path | None = None,
) -> list[HorizonRow]:
    """Both systems on every k; each (system, k) in its own home (own routine cache) under
    `work` (a temporary directory when None), where finished bundles are kept for a resume."""
    context = replace(context or Context(), **BENCH_SETTINGS)
    plans = {k: bundles_for(k, pool) for k in ks}
    run = {"pool": pool, "model": "scripted mock" if mock else model_label(context.model)}
    systems = (("hierarchy", run_hierarchy), ("single_context", run_single_context))
    planned = {
        bundle_key(s, k, b) for k, bundles in plans.items() for s, _ in systems for b in bundles
    }
    rows = []
    with ExitStack() as stack:
        if work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hi-moe-horizon-")))
        work.mkdir(parents=True, exist_ok=True)
        store = BundleStore(work / "bundles.json", run)
        tick(len(planned & store.runs.keys()), len(planned))

        def record(system: str, k: int) -> Record:
            def add(bundle: Project, finished: BundleRun) -> None:
                store.add(bundle_key(system, k, bundle), finished)
                tick(len(planned & store.runs.keys()), len(planned))

            return add

        for k, bundles in plans.items():
            for system, runner in systems:
                home = work / f"{system}-{k}"
                todo = [b for b in bundles if bundle_key(system, k, b) not in store.runs]
                if todo:
                    runner(context, home, todo, mock, record(system, k))
                runs = [store.runs[bundle_key(system, k, b)] for b in bundles]
                row = summarise(system, k, runs)
                checkpoints = home / "checkpoints.sqlite"
                if checkpoints.exists():
                    size, steps = checkpoint_bytes(checkpoints)
                    row.checkpoint_bytes_per_step = round(size / steps)
                rows.append(row)
    return rows


def flatness(rows: list[HorizonRow], system: str) -> float | None:
    """Max prompt tokens at the largest k over the smallest k, minus one (0.2 = 20% growth)."""
    mine = sorted((r for r in rows if r.system == system), key=lambda r: r.k)
    if len(mine) < 2 or not mine[0].max_prompt_tokens:
        return None
    return round(mine[-1].max_prompt_tokens / mine[0].max_prompt_tokens - 1, 3)


def markdown(rows: list[HorizonRow]) -> str:
    headers = ["system", "k", "calls", "max prompt tok/call", "mean prompt tok/call",
               "total tokens", "parts solved", "wall s", "checkpoint B/step"]  # fmt: skip
    table = markdown_table(
        headers,
        [
            (
                r.system,
                r.k,
                r.calls,
                r.max_prompt_tokens,
                r.mean_prompt_tokens,
                r.total_tokens,
                f"{r.parts_solved}/{r.parts_total}",
                r.wall_s,
                r.checkpoint_bytes_per_step or "",
            )  # fmt: skip
            for r in rows
        ],
    )
    growth = ", ".join(
        f"{system} {value:+.0%}"
        for system in SYSTEMS
        if (value := flatness(rows, system)) is not None
    )
    headline = "Growth of max prompt tokens per call from the smallest to the largest k"
    tiers = "\n".join(
        f"- {r.system}, k={r.k}: "
        + ", ".join(f"{tier} {tokens}" for tier, tokens in sorted(r.max_prompt_by_tier.items()))
        for r in rows
        if r.system == "hierarchy"
    )
    return f"{table}\n\n{headline}: {growth}\n\nMax prompt tokens per call by tier:\n{tiers}\n"


def plot(rows: list[HorizonRow], path: Path) -> Path:
    """Max and mean prompt tokens per call against k, one line per system."""
    with png_figure(path, dpi=120, figsize=(7, 4.5)) as (_, axis):
        for system in SYSTEMS:
            mine = sorted((r for r in rows if r.system == system), key=lambda r: r.k)
            ks = [r.k for r in mine]
            axis.plot(ks, [r.max_prompt_tokens for r in mine], marker="o", label=f"{system}: max")
            axis.plot(ks, [r.mean_prompt_tokens for r in mine], marker=".", linestyle="--",
                      label=f"{system}: mean")  # fmt: skip
        axis.set_xscale("log", base=2)
        axis.set_xlabel("parts per task (k)")
        axis.set_ylabel("prompt tokens per LLM call")
        axis.set_title("Prompt size against task length")
        axis.legend()
    return path


def write_report(rows: list[HorizonRow], out: Path, mock: bool) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "model": "scripted mock" if mock else "embedded local model",
        "settings": BENCH_SETTINGS,
        "growth": {system: flatness(rows, system) for system in SYSTEMS},
        "rows": [asdict(r) for r in rows],
    }
    paths = {
        "json": out / "horizon.json",
        "markdown": out / "horizon.md",
        "png": out / "horizon.png",
    }
    paths["json"].write_text(json.dumps(data, indent=2))
    paths["markdown"].write_text(markdown(rows))
    plot(rows, paths["png"])
    return paths
