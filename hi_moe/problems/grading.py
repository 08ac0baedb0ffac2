"""Grade a finished solution with the problem's hidden tests, outside the graph."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hi_moe.problems.classeval import ClassTask
from hi_moe.problems.problem import Problem
from hi_moe.problems.projects import Project
from hi_moe.sandbox.checks import check_function, numeric_answer, run_check, run_program
from hi_moe.sandbox.class_checks import ClassReport, grade_class

PART_DETAIL_CHARS = 200
"""The longest failure detail of one part in a project's grade."""
FUNCTION_TIMEOUT_S = 20.0
CLASS_TIMEOUT_S = 60.0
"""A class's hidden unittest classes share this limit."""


@dataclass(frozen=True)
class Grade:
    passed: bool
    tests_passed: int
    tests_total: int
    detail: str = ""
    parts: dict[str, bool] = field(default_factory=dict)
    """Projects: each part's hidden-test verdict inside the assembled module; classes: each
    method's, by its own unittest class."""


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


def method_passed(report: ClassReport, test_class: str | None) -> bool:
    """Whether a method's own unittest class ran and passed."""
    result = report.results.get(test_class or "")
    return report.ran_ok and result is not None and result.passed


def grade_class_task(task: ClassTask, code: str, timeout_s: float = CLASS_TIMEOUT_S) -> Grade:
    """ClassEval's two verdicts: the class passes when every unittest class does (the
    class-level one included), a method when its own unittest class does. The dataset's imports
    go before the candidate's code, as ClassEval's harness puts them (harmless if repeated)."""
    module = f"{task.imports}\n{code}"
    report = grade_class(
        module, task.class_name, task.imports, task.hidden_test, task.test_classes, timeout_s
    )
    methods = {
        name: method_passed(report, test_class)
        for name, test_class in task.method_test_classes.items()
    }
    failing = [
        f"{name}: {result.detail or 'failed'}"[:PART_DETAIL_CHARS]
        for name, result in report.results.items()
        if not result.passed
    ]
    return Grade(
        passed=report.passed,
        tests_passed=sum(methods.values()),
        tests_total=len(methods),
        detail=report.error or "; ".join(failing[:3]),
        parts=methods,
    )


def grade(problem: Problem | Project, solution: str, timeout_s: float | None = None) -> Grade:
    """Hidden-test verdict for `solution` (a module of code, or a math answer program), within
    `timeout_s` (default: FUNCTION_TIMEOUT_S, CLASS_TIMEOUT_S for a class)."""
    if isinstance(problem, ClassTask):
        return grade_class_task(problem, solution, timeout_s or CLASS_TIMEOUT_S)
    timeout_s = timeout_s or FUNCTION_TIMEOUT_S
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
