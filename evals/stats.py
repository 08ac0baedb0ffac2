"""Small statistics shared by the benchmarks."""

from __future__ import annotations

import math
import random

BOOTSTRAP_SAMPLES = 5000


def percentile(values: list[float], fraction: float) -> float:
    """The value below which about `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def paired_bootstrap(a: list[bool], b: list[bool], seed: int = 0) -> tuple[float, float]:
    """95% interval of mean(b) - mean(a), resampling problems (pairs kept together)."""
    rng, n = random.Random(seed), len(a)
    diffs = []
    for _ in range(BOOTSTRAP_SAMPLES):
        picks = [rng.randrange(n) for _ in range(n)]
        diffs.append(sum(b[i] - a[i] for i in picks) / n)
    diffs.sort()
    return diffs[int(0.025 * len(diffs))], diffs[int(0.975 * len(diffs)) - 1]


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the discordant pairs."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
