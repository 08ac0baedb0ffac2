"""The compare report: per-system summary with intervals and paired p-values, a markdown table,
and the cost-quality frontier PNG."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.figures import png_figure
from evals.stats import discordant, mcnemar_exact, sign_test, wilson_interval


@dataclass(frozen=True)
class Row:
    problem_id: str
    system: str
    passed: bool
    tokens: int
    calls: int
    wall_s: float
    format_error: bool
    """The submitted code is not valid Python or lacks a function the problem asks for."""
    parts_passed: int = 0
    parts_total: int = 0
    """A class: its methods that pass their own unittest class, and its methods (0 otherwise)."""


@dataclass(frozen=True)
class Summary:
    system: str
    problems: int
    pass_at_1: float
    interval: tuple[float, float]
    """95% Wilson interval of pass@1."""
    tokens_per_problem: float
    calls_per_problem: float
    wall_s_per_problem: float
    median_wall_s: float
    format_errors: int
    p_vs_hierarchy: float | None
    """Exact McNemar p of the hierarchy against this system on the problems both finished."""
    parts_passed: int = 0
    parts_total: int = 0
    """Classes: methods passing their own unittest class, and methods, pooled over the classes."""
    methods_p_vs_hierarchy: float | None = None
    """Classes: exact sign test of the hierarchy's methods passed per class against this
    system's (the classes where one passes more methods than the other)."""

    @property
    def method_pass_at_1(self) -> float:
        """Method-level pass@1 (ClassEval's): pooled methods passed / methods."""
        return self.parts_passed / self.parts_total if self.parts_total else 0.0

    @property
    def method_interval(self) -> tuple[float, float]:
        """95% Wilson interval of the method-level pass@1."""
        return wilson_interval(self.parts_passed, self.parts_total)


def methods_sign_p(rows: Sequence[Row], hierarchy: dict[str, Row]) -> float | None:
    """Exact two-sided sign test over the classes both finished: the hierarchy passes more of a
    class's methods than `rows`' system, or fewer (None: no class both finished)."""
    paired = [r for r in rows if r.parts_total and r.problem_id in hierarchy]
    if not paired:
        return None
    return sign_test([hierarchy[r.problem_id].parts_passed for r in paired],
                     [r.parts_passed for r in paired])  # fmt: skip


def summarize(rows: Sequence[Row], systems: Sequence[str]) -> list[Summary]:
    """One summary per system with rows, in the order of `systems`."""
    hierarchy_rows = {r.problem_id: r for r in rows if r.system == "hierarchy"}
    hierarchy = {problem: r.passed for problem, r in hierarchy_rows.items()}
    summaries = []
    for system in systems:
        mine = [r for r in rows if r.system == system]
        if not mine:
            continue
        passed = sum(r.passed for r in mine)
        paired = [r for r in mine if r.problem_id in hierarchy]
        p_value = None
        if system != "hierarchy" and paired:
            ours = [hierarchy[r.problem_id] for r in paired]
            p_value = mcnemar_exact(*discordant(ours, [r.passed for r in paired]))
        summaries.append(
            Summary(
                system,
                len(mine),
                passed / len(mine),
                wilson_interval(passed, len(mine)),
                statistics.mean(r.tokens for r in mine),
                statistics.mean(r.calls for r in mine),
                statistics.mean(r.wall_s for r in mine),
                statistics.median(r.wall_s for r in mine),
                sum(r.format_error for r in mine),
                p_value,
                sum(r.parts_passed for r in mine),
                sum(r.parts_total for r in mine),
                None if system == "hierarchy" else methods_sign_p(mine, hierarchy_rows),
            )
        )
    return summaries


def rate(value: float, interval: tuple[float, float]) -> str:
    """A pass rate with its interval, as the report shows it."""
    low, high = interval
    return f"{value:.1%} [{low:.1%}, {high:.1%}]"


def render(summaries: list[Summary]) -> str:
    """The markdown table; with a method-level pass@1 column (pooled methods passed / methods)
    when any system has class rows."""
    methods = any(s.parts_total for s in summaries)
    level = "class-level " if methods else ""
    method_head = (
        " method-level pass@1 [95% CI] | methods: sign p vs hierarchy |" if methods else ""
    )
    lines = [
        f"| system | problems | {level}pass@1 [95% CI] |{method_head} McNemar p vs hierarchy "
        "| tokens/problem | LLM calls/problem | seconds/problem (median) | format errors |",
        "|---|---|---|" + ("---|---|" if methods else "") + "---|---|---|---|---|",
    ]
    for s in summaries:
        p_value = "-" if s.p_vs_hierarchy is None else f"{s.p_vs_hierarchy:.3g}"
        sign = "-" if s.methods_p_vs_hierarchy is None else f"{s.methods_p_vs_hierarchy:.3g}"
        method = f" {rate(s.method_pass_at_1, s.method_interval)} | {sign} |" if methods else ""
        lines.append(
            f"| {s.system} | {s.problems} | {rate(s.pass_at_1, s.interval)} |{method} "
            f"{p_value} | {s.tokens_per_problem:.0f} | {s.calls_per_problem:.1f} | "
            f"{s.wall_s_per_problem:.1f} ({s.median_wall_s:.1f}) | {s.format_errors}/{s.problems} |"
        )
    return "\n".join(lines)


COLOURS = {"baseline": "#8c8c8c", "incremental": "#9372b2", "compositional": "#c03d3e",
           "best-of-n": "#e1812c", "retry": "#3a923a", "hierarchy": "#3b75af"}  # fmt: skip


def chart(summaries: list[Summary], path: Path, title: str) -> Path:
    """The cost-quality frontier: pass@1 (with its 95% interval) against tokens per problem,
    one point per system."""
    with png_figure(path, figsize=(6.5, 4.5)) as (figure, axis):
        for s in summaries:
            low, high = s.interval
            axis.errorbar([s.tokens_per_problem], [s.pass_at_1],
                          yerr=[[s.pass_at_1 - low], [high - s.pass_at_1]], fmt="o", capsize=4,
                          color=COLOURS[s.system], label=s.system)  # fmt: skip
        axis.legend(loc="lower right")
        axis.set_xscale("log")
        axis.set_xlabel("tokens per problem (log scale)")
        axis.set_ylabel("pass@1 on hidden tests")
        axis.set_ylim(0, 1.05)
        axis.grid(alpha=0.3)
        axis.set_title(title)
    return path
