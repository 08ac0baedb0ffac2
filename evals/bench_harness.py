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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from evals.bench_common import Tick, markdown_table, no_tick
from graph.context import Context
from graph.versioned_saver import VALUES_TABLE
from hi_moe.app.runs import new_thread_id, open_graph_and_endpoint, run_thread
from hi_moe.problems.datasets import load_dataset
from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project

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
    """(bytes of checkpoints, channel values and pending writes, number of checkpoints)."""
    with sqlite3.connect(path) as conn:
        saved, steps = conn.execute(
            "SELECT SUM(LENGTH(checkpoint) + LENGTH(metadata)), COUNT(*) FROM checkpoints"
        ).fetchone()
        written = conn.execute("SELECT SUM(LENGTH(value)) FROM writes").fetchone()[0]
        values = conn.execute(f"SELECT SUM(LENGTH(value)) FROM {VALUES_TABLE}").fetchone()[0]
    return (saved or 0) + (written or 0) + (values or 0), steps or 1


def overhead(
    latency_s: float = 0.05, problem_count: int = PROBLEMS, tick: Tick = no_tick
) -> OverheadReport:
    """Solve builtin problems one at a time, splitting each node's time into LLM and harness."""
    problems: Sequence[Problem | Project] = load_dataset("builtin")[:problem_count]
    node_overheads: dict[str, list[float]] = {}
    totals, llm_totals = [], []
    with tempfile.TemporaryDirectory() as home:
        store = Path(home) / "checkpoints.sqlite"
        context = Context(home=home)
        opened = open_graph_and_endpoint(context, str(store), problems, mock_latency_s=latency_s)
        with opened as (graph, live):
            for done, problem in enumerate(problems, start=1):
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
                tick(done, len(problems))
        saved, steps = checkpoint_bytes(store)
    return OverheadReport(
        latency_s=latency_s,
        problems=len(problems),
        seconds_per_problem=statistics.mean(totals),
        llm_seconds_per_problem=statistics.mean(llm_totals),
        overhead_ms_per_node={k: statistics.median(v) for k, v in node_overheads.items()},
        checkpoint_bytes_per_step=saved / steps,
    )


def throughput(
    latency_s: float = 0.05,
    widths: tuple[int, ...] = (1, 2, 4),
    problem_count: int = PROBLEMS,
    tick: Tick = no_tick,
) -> ThroughputReport:
    """Solve the same builtin problems at each concurrency; problems per minute for each."""
    problems: Sequence[Problem | Project] = load_dataset("builtin")[:problem_count]
    rates = {}
    total, finished = len(problems) * len(widths), count(1)
    with tempfile.TemporaryDirectory() as home:
        context = Context(home=home)
        store = str(Path(home) / "checkpoints.sqlite")
        opened = open_graph_and_endpoint(context, store, problems, mock_latency_s=latency_s)
        with opened as (graph, live):

            def solve(problem) -> None:
                run_thread(graph, new_thread_id(problem.id), live,
                           {"task": problem.visible_task()})  # fmt: skip
                tick(next(finished), total)

            for width in widths:
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=width) as pool:
                    list(pool.map(solve, problems))
                rates[width] = len(problems) / (time.perf_counter() - started) * 60
    return ThroughputReport(latency_s, len(problems), rates)


def render_overhead(report: OverheadReport) -> str:
    """Time per problem vs its LLM time, then the median harness overhead per node."""
    headline = (
        f"{report.problems} problems, fake endpoint at {report.latency_s * 1000:.0f} ms per call: "
        f"{report.seconds_per_problem:.2f} s per problem, of which LLM "
        f"{report.llm_seconds_per_problem:.2f} s; checkpoint bytes per step: "
        f"{report.checkpoint_bytes_per_step:.0f}"
    )
    nodes = markdown_table(
        ["node", "median harness overhead ms"],
        ([node, f"{ms:.1f}"] for node, ms in report.overhead_ms_per_node.items()),
    )
    return f"{headline}\n\n{nodes}"


def render_throughput(report: ThroughputReport) -> str:
    """Problems per minute at each concurrency."""
    rates = markdown_table(
        ["concurrency", "problems per minute"],
        ([width, f"{rate:.0f}"] for width, rate in report.problems_per_minute.items()),
    )
    return (
        f"{report.problems} problems per concurrency, fake endpoint at "
        f"{report.latency_s * 1000:.0f} ms per call\n\n{rates}"
    )
