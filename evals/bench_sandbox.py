"""Sandbox overhead: wall time of validating a trivial solution, per local isolation.

Run: .venv/bin/python evals/bench_sandbox.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from graph.state import TestCase
from hi_moe.sandbox import check_function
from hi_moe.sandbox_isolation import LOCAL_KINDS, SANDBOX_ENV, isolation, why_not

SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = [TestCase(call="add(1, 2)", expected="3"), TestCase(call="add(-1, 1)", expected="0")]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def time_checks(runs: int) -> list[float]:
    """Milliseconds per check_function call (one warm-up call first, not counted)."""
    check_function(SOLUTION, "add", TESTS)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        report = check_function(SOLUTION, "add", TESTS)
        times.append((time.perf_counter() - started) * 1000)
        assert report.passed == 2, report
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"default isolation here: {isolation()}")
    for kind in LOCAL_KINDS:
        if reason := why_not(kind):
            print(f"{kind:>10}: unavailable ({reason})")
            continue
        os.environ[SANDBOX_ENV] = kind
        times = time_checks(args.runs)
        print(
            f"{kind:>10}: median {statistics.median(times):6.1f} ms, "
            f"p95 {percentile(times, 0.95):6.1f} ms over {args.runs} runs (2 tests each)"
        )


if __name__ == "__main__":
    main()
