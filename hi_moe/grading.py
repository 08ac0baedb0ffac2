"""Grade a finished solution with the problem's hidden tests, outside the graph."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hi_moe.problems import Problem
from hi_moe.sandbox import check_function, numeric_answer, run_check, run_program


@dataclass(frozen=True)
class Grade:
    passed: bool
    tests_passed: int
    tests_total: int
    detail: str = ""


def answers_match(got: float | None, expected: str) -> bool:
    return got is not None and math.isclose(got, float(expected), rel_tol=1e-6, abs_tol=1e-6)


def grade(problem: Problem, solution: str, timeout_s: float = 20.0) -> Grade:
    """Hidden-test verdict for `solution` (a module of code, or a math answer program)."""
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
