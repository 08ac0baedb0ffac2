"""Harness benchmarks against a fake OpenAI endpoint with a fixed latency per call.

- overhead: time per solved problem vs the sum of its LLM latencies, overhead per node in ms,
  checkpoint bytes per step;
- throughput: problems per minute at concurrency 1, 2 and 4.
Run: hi-moe bench overhead|throughput [--latency 0.05]
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from graph.context import Context
from hi_moe.problems import load_dataset
from hi_moe.runs import hierarchy, new_thread_id, run_thread

PROBLEMS = 8


@dataclass
class OverheadReport:
    latency_s: float
    problems: int
    seconds_per_problem: float
    llm_seconds_per_problem: float
    overhead_ms_per_node: dict[str, float]
    checkpoint_bytes_per_step: float


@dataclass
class ThroughputReport:
    latency_s: float
    problems: int
    problems_per_minute: dict[int, float]


def checkpoint_bytes(path: Path) -> tuple[int, int]:
    """(bytes of all checkpoints and pending writes, number of checkpoints) in a SQLite store."""
    with sqlite3.connect(path) as conn:
        saved, steps = conn.execute(
            "SELECT SUM(LENGTH(checkpoint) + LENGTH(metadata)), COUNT(*) FROM checkpoints"
        ).fetchone()
        written = conn.execute("SELECT SUM(LENGTH(value)) FROM writes").fetchone()[0]
    return (saved or 0) + (written or 0), steps or 1


def overhead(latency_s: float = 0.05) -> OverheadReport:
    problems = load_dataset("builtin")[:PROBLEMS]
    node_overheads: dict[str, list[float]] = {}
    totals, llm_totals = [], []
    with tempfile.TemporaryDirectory() as home:
        store = Path(home) / "checkpoints.sqlite"
        context = Context(home=home)
        with hierarchy(context, str(store), problems, mock_latency_s=latency_s) as (graph, live):
            for problem in problems:
                last = started = time.perf_counter()
                llm_s = 0.0

                def on_step(node: str, update: dict) -> None:
                    nonlocal last, llm_s
                    now = time.perf_counter()
                    usage = update.get("usage")
                    calls = usage.calls if usage is not None else 0
                    llm_s += calls * latency_s
                    elapsed_ms = (now - last - calls * latency_s) * 1000
                    node_overheads.setdefault(node, []).append(elapsed_ms)
                    last = now

                run_thread(graph, new_thread_id(problem.id), live,
                           {"task": problem.visible_task()}, on_step)  # fmt: skip
                totals.append(time.perf_counter() - started)
                llm_totals.append(llm_s)
        saved, steps = checkpoint_bytes(store)
    return OverheadReport(
        latency_s=latency_s,
        problems=len(problems),
        seconds_per_problem=statistics.mean(totals),
        llm_seconds_per_problem=statistics.mean(llm_totals),
        overhead_ms_per_node={k: statistics.median(v) for k, v in node_overheads.items()},
        checkpoint_bytes_per_step=saved / steps,
    )


def throughput(latency_s: float = 0.05, widths: tuple[int, ...] = (1, 2, 4)) -> ThroughputReport:
    problems = load_dataset("builtin")[:PROBLEMS]
    rates = {}
    with tempfile.TemporaryDirectory() as home:
        context = Context(home=home)
        store = str(Path(home) / "checkpoints.sqlite")
        with hierarchy(context, store, problems, mock_latency_s=latency_s) as (graph, live):

            def solve(problem) -> None:
                run_thread(graph, new_thread_id(problem.id), live,
                           {"task": problem.visible_task()})  # fmt: skip

            for width in widths:
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=width) as pool:
                    list(pool.map(solve, problems))
                rates[width] = len(problems) / (time.perf_counter() - started) * 60
    return ThroughputReport(latency_s, len(problems), rates)


def render_overhead(report: OverheadReport) -> str:
    nodes = ", ".join(f"{k} {v:.1f}" for k, v in report.overhead_ms_per_node.items())
    return (
        f"{report.problems} problems, fake endpoint at {report.latency_s * 1000:.0f} ms per call: "
        f"{report.seconds_per_problem:.2f} s per problem, of which LLM "
        f"{report.llm_seconds_per_problem:.2f} s\n"
        f"median harness overhead per node (ms): {nodes}\n"
        f"checkpoint bytes per step: {report.checkpoint_bytes_per_step:.0f}"
    )


def render_throughput(report: ThroughputReport) -> str:
    rates = ", ".join(f"{w}: {r:.0f}" for w, r in report.problems_per_minute.items())
    return (
        f"{report.problems} problems, fake endpoint at {report.latency_s * 1000:.0f} ms per call;"
        f" problems per minute by concurrency: {rates}"
    )
