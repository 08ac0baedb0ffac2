"""A/B test of prompt variants of one tier on the same problems, with a confidence interval.

Run: hi-moe ab-test --tier specialist --variant A=prompts/specialist.md \
         --variant B=prompts/specialist_terse.md [--dataset builtin] [--limit N] [--mock]
Both variants solve the same problems; the difference in hidden-test pass rate (B - A) gets a
95% paired-bootstrap interval and an exact McNemar p-value on the discordant problems. A
problem the endpoint gave up on under either variant is left out of the pairs; rerunning with
the same --run-id resumes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evals.stats import mcnemar_exact, paired_bootstrap
from graph.context import Context
from hi_moe.app.batch import Batch
from hi_moe.app.runs import new_thread_id, solver
from hi_moe.errors import UserError
from hi_moe.problems.problem import Problem

TIERS = ("architect", "dispatcher", "specialist", "monitor")


@dataclass(frozen=True)
class Variant:
    name: str
    prompt: str


@dataclass(frozen=True)
class ABReport:
    tier: str
    variants: tuple[str, str]
    problems: int
    pass_rates: tuple[float, float]
    difference: float
    ci_low: float
    ci_high: float
    mcnemar_p: float
    only_a: int
    only_b: int


def parse_variant(text: str) -> Variant:
    name, separator, prompt = text.partition("=")
    if not separator or not name or not prompt:
        raise UserError(f"--variant {text!r}: write NAME=path/to/prompt.md")
    if not Path(prompt).is_file():
        raise UserError(f"--variant {name}: prompt file {prompt} does not exist")
    return Variant(name, prompt)


def compare_outcomes(tier: str, names: tuple[str, str], a: list[bool], b: list[bool]) -> ABReport:
    low, high = paired_bootstrap(a, b)
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    rate_a, rate_b = sum(a) / len(a), sum(b) / len(b)
    return ABReport(tier, names, len(a), (rate_a, rate_b), rate_b - rate_a, low, high,
                    mcnemar_exact(only_a, only_b), only_a, only_b)  # fmt: skip


def run_variant(
    problems: list[Problem],
    context: Context,
    tier: str,
    variant: Variant,
    mock: bool,
    batch: Batch,
    dataset: str,
    on_problem: Callable[[], None],
) -> dict[str, bool]:
    """Hidden-test pass of each problem finished with `variant` as the tier's prompt."""
    prompt: dict[str, Any] = {f"{tier}_prompt": variant.prompt}
    context = replace(context, **prompt)
    checkpoint = str(context.home_dir / "checkpoints.sqlite")
    run_id = f"{batch.run_id}-{variant.name}"
    with solver(context, checkpoint, dataset, run_id, problems if mock else None) as solving:
        results = batch.run(
            problems,
            lambda p: solving.thread_for(p.id, new_thread_id(f"ab-{variant.name}-{p.id}")),
            lambda p, thread: solving.solve(p, thread)[0],
            after=lambda _: on_problem(),
        )
    return {r.problem_id: bool(r.hidden["passed"]) for r in results}


def render(report: ABReport) -> str:
    a, b = report.variants
    return (
        f"{report.tier} prompt A/B on {report.problems} problems: "
        f"{a} {report.pass_rates[0]:.1%} vs {b} {report.pass_rates[1]:.1%}\n"
        f"difference {b} - {a}: {report.difference:+.1%} "
        f"(95% paired bootstrap CI {report.ci_low:+.1%} .. {report.ci_high:+.1%}); "
        f"McNemar exact p = {report.mcnemar_p:.3f} "
        f"({report.only_a} solved only by {a}, {report.only_b} only by {b})"
    )
