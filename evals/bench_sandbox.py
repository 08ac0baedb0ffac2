"""Sandbox overhead: wall time of validating a trivial solution, per local isolation.

Run: hi-moe bench sandbox  (or python evals/bench_sandbox.py --runs 30)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from evals.bench_common import Tick, markdown_table, no_tick
from evals.stats import percentile
from graph.state import TestCase
from hi_moe.sandbox.checks import check_function
from hi_moe.sandbox.isolation import LOCAL_KINDS, SANDBOX_ENV, isolation, why_not

SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = [TestCase(call="add(1, 2)", expected="3"), TestCase(call="add(-1, 1)", expected="0")]


@dataclass
class IsolationTiming:
    kind: str
    unavailable: str
    """Why this isolation cannot run here; empty when it was timed."""
    median_ms: float | None = None
    p95_ms: float | None = None


@dataclass
class SandboxReport:
    default_isolation: str
    runs: int
    timings: list[IsolationTiming]


def time_checks(runs: int, after_run: Callable[[], None] = lambda: None) -> list[float]:
    """Milliseconds per check_function call (one warm-up call first, not counted)."""
    check_function(SOLUTION, "add", TESTS)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        report = check_function(SOLUTION, "add", TESTS)
        times.append((time.perf_counter() - started) * 1000)
        assert report.passed == 2, report
        after_run()
    return times


def time_isolation(kind: str, runs: int, after_run: Callable[[], None]) -> IsolationTiming:
    """Median and p95 of `runs` checks under one isolation (forced through the environment)."""
    if reason := why_not(kind):
        return IsolationTiming(kind, reason)
    chosen = os.environ.get(SANDBOX_ENV)
    os.environ[SANDBOX_ENV] = kind
    try:
        times = time_checks(runs, after_run)
    finally:
        if chosen is None:
            os.environ.pop(SANDBOX_ENV, None)
        else:
            os.environ[SANDBOX_ENV] = chosen
    return IsolationTiming(kind, "", statistics.median(times), percentile(times, 0.95))


def measure(runs: int = 30, tick: Tick = no_tick) -> SandboxReport:
    """Time every local isolation this machine offers."""
    total, done = runs * len(LOCAL_KINDS), 0

    def after_run() -> None:
        nonlocal done
        done += 1
        tick(done, total)

    timings = []
    for index, kind in enumerate(LOCAL_KINDS, start=1):
        timings.append(time_isolation(kind, runs, after_run))
        done = index * runs
        tick(done, total)
    return SandboxReport(isolation(), runs, timings)


def render(report: SandboxReport) -> str:
    """The default isolation, then median and p95 per isolation as Markdown."""
    rows = [
        [t.kind, "-", "-", f"unavailable ({t.unavailable})"]
        if t.unavailable
        else [t.kind, f"{t.median_ms:.1f}", f"{t.p95_ms:.1f}", ""]
        for t in report.timings
    ]
    table = markdown_table(["isolation", "median ms", "p95 ms", "note"], rows)
    return (
        f"default isolation here: {report.default_isolation}; {report.runs} validations of a "
        f"trivial solution (2 tests) per isolation\n\n{table}"
    )


def report(runs: int = 30) -> str:
    """The rendered report (kept for scripts)."""
    return render(measure(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    print(report(parser.parse_args().runs))


if __name__ == "__main__":
    main()
