"""Grade a finished solution with the problem's hidden tests, outside the graph."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project
from hi_moe.sandbox.checks import check_function, numeric_answer, run_check, run_program

PART_DETAIL_CHARS = 200
"""The longest failure detail of one part in a project's grade."""


@dataclass(frozen=True)
class Grade:
    passed: bool
    tests_passed: int
    tests_total: int
    detail: str = ""
    parts: dict[str, bool] = field(default_factory=dict)
    """Projects: each part's hidden-test verdict inside the assembled module."""


def answers_match(got: float | None, expected: str) -> bool:
    return got is not None and math.isclose(got, float(expected), rel_tol=1e-6, abs_tol=1e-6)


def grade_project(project: Project, module: str, timeout_s: float) -> Grade:
    """Each part graded inside the whole module; the project passes when every part does."""
    verdicts = {part.id: grade(part, module, timeout_s) for part in project.parts}
    failing = [
        f"{pid}: {g.detail or 'failed'}"[:PART_DETAIL_CHARS]
        for pid, g in verdicts.items()
        if not g.passed
    ]
    passed = sum(g.passed for g in verdicts.values())
    return Grade(
        passed=passed == len(verdicts),
        tests_passed=passed,
        tests_total=len(verdicts),
        detail="; ".join(failing[:3]),
        parts={pid: g.passed for pid, g in verdicts.items()},
    )


def grade(problem: Problem | Project, solution: str, timeout_s: float = 20.0) -> Grade:
    """Hidden-test verdict for `solution` (a module of code, or a math answer program)."""
    if isinstance(problem, Project):
        return grade_project(problem, solution, timeout_s)
    if problem.kind == "math":
        report = run_program(solution, timeout_s)
        got = numeric_answer(report.stdout) if report.ran_ok else None
        ok = answers_match(got, problem.answer or "nan")
        detail = "" if ok else (report.error or f"printed {got}, expected {problem.answer}")
        return Grade(ok, int(ok), 1, detail)
    if problem.hidden_check is not None:
        report = run_check(solution, problem.hidden_check, problem.entry_point, timeout_s)
        return Grade(report.ran_ok, int(report.ran_ok), 1, report.error)
    report = check_function(solution, problem.entry_point, problem.hidden_tests, timeout_s)
    failing = [f"{r.call}: {r.status}" for r in report.results if r.status != "passed"]
    detail = report.error or "; ".join(failing[:3])
    ok = report.ran_ok and report.passed == len(problem.hidden_tests)
    return Grade(ok, report.passed, len(problem.hidden_tests), detail)
