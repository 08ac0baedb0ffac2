"""Two compare runs side by side, paired by problem: did a change (adapters, a model) help?

Run: hi-moe compare-runs RUN_A RUN_B   (run ids under .hi_moe/compare, or their JSON files)
For each system, on the problems both runs finished: pass@1 of each run, the difference B - A
with a 95% paired-bootstrap interval and an exact McNemar p-value, the same test for format
errors, and tokens and LLM calls per problem.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from evals.compare import SYSTEMS, Row, RowStore
from evals.stats import discordant, mcnemar_exact, paired_bootstrap, sign_test
from hi_moe.errors import UserError


@dataclass(frozen=True)
class PairedSystem:
    system: str
    problems: int
    passed: tuple[int, int]
    ci: tuple[float, float]
    """95% paired-bootstrap interval of pass@1 B - A."""
    pass_p: float
    format_errors: tuple[int, int]
    format_p: float
    tokens: tuple[float, float]
    calls: tuple[float, float]
    methods: tuple[int, int] = (0, 0)
    """Classes: methods passing their own unittest class in each run (ClassEval's method level)."""
    methods_total: int = 0
    methods_p: float = 1.0
    """Exact sign test over the classes where one run passes more methods than the other."""


def run_path(run: str, home: Path) -> Path:
    """A run id's rows file under `home`/compare, or the JSON file given."""
    path = Path(run) if run.endswith(".json") else home / "compare" / f"{run}.json"
    if not path.is_file():
        raise UserError(f"no compare run {run!r}: {path} does not exist")
    return path


def pair_system(system: str, rows_a: list[Row], rows_b: list[Row]) -> PairedSystem | None:
    """The system's rows of both runs paired by problem; None when they share no problem."""
    a = {r.problem_id: r for r in rows_a if r.system == system}
    b = {r.problem_id: r for r in rows_b if r.system == system}
    shared = sorted(a.keys() & b.keys())
    if not shared:
        return None
    pairs = [(a[p], b[p]) for p in shared]
    passed_a, passed_b = [x.passed for x, _ in pairs], [y.passed for _, y in pairs]
    errors_a, errors_b = [x.format_error for x, _ in pairs], [y.format_error for _, y in pairs]
    return PairedSystem(
        system=system,
        problems=len(shared),
        passed=(sum(passed_a), sum(passed_b)),
        ci=paired_bootstrap(passed_a, passed_b),
        pass_p=mcnemar_exact(*discordant(passed_a, passed_b)),
        format_errors=(sum(errors_a), sum(errors_b)),
        format_p=mcnemar_exact(*discordant(errors_a, errors_b)),
        tokens=(statistics.mean(x.tokens for x, _ in pairs),
                statistics.mean(y.tokens for _, y in pairs)),
        calls=(statistics.mean(x.calls for x, _ in pairs),
               statistics.mean(y.calls for _, y in pairs)),
        methods=(sum(x.parts_passed for x, _ in pairs), sum(y.parts_passed for _, y in pairs)),
        methods_total=sum(x.parts_total for x, _ in pairs),
        methods_p=sign_test([x.parts_passed for x, _ in pairs], [y.parts_passed for _, y in pairs]),
    )  # fmt: skip


def compare_runs(path_a: Path, path_b: Path) -> list[PairedSystem]:
    rows_a, rows_b = RowStore(path_a).rows, RowStore(path_b).rows
    paired = [p for s in SYSTEMS if (p := pair_system(s, rows_a, rows_b)) is not None]
    if not paired:
        raise UserError(f"{path_a.name} and {path_b.name} share no finished problem")
    return paired


def render(paired: list[PairedSystem], names: tuple[str, str]) -> str:
    a, b = names
    lines = [
        f"A = {a}, B = {b}; paired by problem",
        "",
        "| system | problems | pass A | pass B | B - A (95% CI) | McNemar p | format errors A | "
        "format errors B | McNemar p | tokens/problem A | tokens/problem B | calls/problem A | "
        "calls/problem B |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in paired:
        difference = (p.passed[1] - p.passed[0]) / p.problems
        lines.append(
            f"| {p.system} | {p.problems} | {p.passed[0]} | {p.passed[1]} | "
            f"{difference:+.1%} ({p.ci[0]:+.1%} .. {p.ci[1]:+.1%}) | {p.pass_p:.2f} | "
            f"{p.format_errors[0]} | {p.format_errors[1]} | {p.format_p:.2f} | "
            f"{p.tokens[0]:.0f} | {p.tokens[1]:.0f} | {p.calls[0]:.1f} | {p.calls[1]:.1f} |"
        )
    return "\n".join(lines + method_lines(paired))


def method_lines(paired: list[PairedSystem]) -> list[str]:
    """Classes: methods passed in each run, with a sign test over the classes (none otherwise)."""
    classes = [p for p in paired if p.methods_total]
    if not classes:
        return []
    lines = ["", "Methods (classes: sign test over the classes where the runs differ):", "",
             "| system | methods | passed A | passed B | sign p |",
             "|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {p.system} | {p.methods_total} | {p.methods[0]} | {p.methods[1]} | "
              f"{p.methods_p:.2f} |" for p in classes]  # fmt: skip
    return lines
