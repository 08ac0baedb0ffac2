"""Routine relevance benchmark: how far a related routine lies from the architect's query,
against the nearest unrelated one, so the cache's bar (`routine_max_distance`) is measured.

Run: hi-moe bench routines

Related pairs come from MBPP Pro (datasets/mbpp_pro.json): each new function builds on its base
function, so the base part's routine is relevant to the new part. For every task the query is
the new part's, as the architect builds it; the related routine is its own base part's summary,
the unrelated one the nearest base part of any other task. MBPP repeats some tasks in other
words, so a few "unrelated" neighbours are related in fact: the two distributions overlap and
the bar separates them only roughly. HumanEval shows the bar's effect on a run: its problems
are distinct tasks solved in order, and the share of them within the bar of an earlier one's
routine is the share whose architect would be shown any. Embeddings only: no model call.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from evals.bench_common import Tick, markdown_table, no_tick
from hi_moe.problems.mbpp_pro import read_mbpp_pro
from hi_moe.problems.problem import humaneval_problems
from hi_moe.routing.embeddings import embed_matrix
from nodes.assembly import routine_query, routine_summary

BARS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


@dataclass
class BarRow:
    bar: float
    related_kept: float
    """Share of tasks whose own base routine is within the bar."""
    unrelated_kept: float
    """Share of tasks whose nearest other-task routine is within the bar."""
    humaneval_shown: float
    """Share of HumanEval problems with an earlier problem's routine within the bar."""


@dataclass
class RoutineBarReport:
    tasks: int
    related_median: float
    unrelated_median: float
    setting: float
    """The bar in use (`routine_max_distance`)."""
    rows: list[BarRow]


def pair_distances() -> tuple[np.ndarray, np.ndarray]:
    """Per task: the cosine distance to its own base routine, and to the nearest other one."""
    tasks = [task.visible_task().parts for task in read_mbpp_pro()]
    queries = embed_matrix([routine_query([new]) for _, new in tasks])
    routines = embed_matrix([routine_summary(base) for base, _ in tasks])
    distances = 1.0 - queries @ routines.T
    related = np.diag(distances).copy()
    np.fill_diagonal(distances, np.inf)
    return related, distances.min(axis=1)


def nearest_earlier() -> np.ndarray:
    """Per HumanEval problem after the first: the distance to the nearest earlier routine."""
    parts = [problem.visible_task().parts[0] for problem in humaneval_problems()]
    queries = embed_matrix([routine_query([part]) for part in parts])
    routines = embed_matrix([routine_summary(part) for part in parts])
    distances = 1.0 - queries @ routines.T
    return np.array([distances[i, :i].min() for i in range(1, len(parts))])


def share_within(distances: np.ndarray, bar: float) -> float:
    return round(float((distances <= bar).mean()), 3)


def run(setting: float, tick: Tick = no_tick) -> RoutineBarReport:
    tick(0, 2)
    related, unrelated = pair_distances()
    tick(1, 2)
    earlier = nearest_earlier()
    tick(2, 2)
    bars = sorted({*BARS, setting})
    return RoutineBarReport(
        tasks=len(related),
        related_median=round(statistics.median(related.tolist()), 3),
        unrelated_median=round(statistics.median(unrelated.tolist()), 3),
        setting=setting,
        rows=[
            BarRow(
                b, share_within(related, b), share_within(unrelated, b), share_within(earlier, b)
            )
            for b in bars
        ],  # fmt: skip
    )


def render(report: RoutineBarReport) -> str:
    table = markdown_table(
        ["bar (cosine distance)", "MBPP Pro: related routine kept",
         "MBPP Pro: nearest unrelated kept", "HumanEval in order: shown a routine"],
        [
            (f"{row.bar}{' (setting)' if row.bar == report.setting else ''}",
             f"{row.related_kept:.0%}", f"{row.unrelated_kept:.0%}", f"{row.humaneval_shown:.0%}")
            for row in report.rows
        ],
    )  # fmt: skip
    return (
        f"Routine relevance on {report.tasks} MBPP Pro tasks: median distance to the related "
        f"routine {report.related_median}, to the nearest unrelated one "
        f"{report.unrelated_median}.\n\n{table}\n"
    )
