"""Small statistics shared by the benchmarks."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

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


def discordant(a: list[bool], b: list[bool]) -> tuple[int, int]:
    """How many pairs are true only in A, and only in B."""
    return sum(x and not y for x, y in zip(a, b, strict=True)), sum(
        y and not x for x, y in zip(a, b, strict=True)
    )


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the discordant pairs."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def sign_test(a: Sequence[int], b: Sequence[int]) -> float:
    """Two-sided exact sign test of paired counts: the pairs where `a` is higher against those
    where `b` is (ties left out)."""
    return mcnemar_exact(sum(x > y for x, y in zip(a, b, strict=True)),
                         sum(x < y for x, y in zip(a, b, strict=True)))  # fmt: skip


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound at 0 and at n successes)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    shrink = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / shrink
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / shrink
    return max(0.0, centre - half), min(1.0, centre + half)
