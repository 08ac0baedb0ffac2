"""Sandbox overhead: wall time of validating a trivial solution, per local isolation.

Run: hi-moe bench sandbox  (or python evals/bench_sandbox.py --runs 30)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from evals.stats import percentile
from graph.state import TestCase
from hi_moe.sandbox import check_function
from hi_moe.sandbox_isolation import LOCAL_KINDS, SANDBOX_ENV, isolation, why_not

SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = [TestCase(call="add(1, 2)", expected="3"), TestCase(call="add(-1, 1)", expected="0")]


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


def report(runs: int = 30) -> str:
    """Median and p95 per available isolation, one line each."""
    lines = [f"default isolation here: {isolation()}"]
    chosen = os.environ.get(SANDBOX_ENV)
    try:
        for kind in LOCAL_KINDS:
            if reason := why_not(kind):
                lines.append(f"{kind:>10}: unavailable ({reason})")
                continue
            os.environ[SANDBOX_ENV] = kind
            times = time_checks(runs)
            lines.append(
                f"{kind:>10}: median {statistics.median(times):6.1f} ms, "
                f"p95 {percentile(times, 0.95):6.1f} ms over {runs} runs (2 tests each)"
            )
    finally:
        if chosen is None:
            os.environ.pop(SANDBOX_ENV, None)
        else:
            os.environ[SANDBOX_ENV] = chosen
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    print(report(parser.parse_args().runs))


if __name__ == "__main__":
    main()
