"""Long-horizon task sets: project-authored multi-part tasks and HumanEval bundles."""

from __future__ import annotations

import pytest

from hi_moe.problems.datasets import get_problem, load_dataset
from hi_moe.problems.grading import grade
from hi_moe.problems.problem import ProblemError
from hi_moe.problems.projects import Project, get_project, humaneval_bundle, read_projects


def reference_module(project: Project) -> str:
    return "\n\n".join(part.reference for part in project.parts)


def test_projects_have_parts_that_call_earlier_parts():
    projects = read_projects()
    assert len(projects) >= 5
    for project in projects:
        names = [p.entry_point for p in project.parts]
        assert len(names) >= 3 and len(set(names)) == len(names)
        later_calls = [
            earlier
            for index, part in enumerate(project.parts)
            for earlier in names[:index]
            if f"{earlier}(" in part.reference
        ]
        assert later_calls, f"{project.id}: no part calls an earlier one"


@pytest.mark.parametrize("project", read_projects(), ids=lambda p: p.id)
def test_reference_modules_pass_every_part(project):
    verdict = grade(project, reference_module(project))
    assert verdict.passed, verdict.detail
    assert verdict.tests_passed == verdict.tests_total == len(project.parts)
    assert set(verdict.parts) == {p.id for p in project.parts}


def test_grading_reports_the_fraction_of_parts_solved():
    project = read_projects()[0]
    broken = project.parts[-1].reference.replace("return", "return None and", 1)
    module = "\n\n".join([*(p.reference for p in project.parts[:-1]), broken])
    verdict = grade(project, module)
    assert not verdict.passed
    assert verdict.tests_passed == len(project.parts) - 1
    assert verdict.parts[project.parts[-1].id] is False
    assert project.parts[-1].id in verdict.detail


def test_the_visible_task_holds_no_hidden_tests():
    project = read_projects()[0]
    task = project.visible_task()
    text = task.model_dump_json()
    assert [p.name for p in task.parts] == [p.entry_point for p in project.parts]
    assert [p.source_id for p in task.parts] == [p.id for p in project.parts]
    for part in project.parts:
        for hidden in part.hidden_tests:
            if all(hidden.call != v.call for v in part.visible_tests):
                assert hidden.call not in text
        assert part.reference not in text


def test_bundles_take_consecutive_humaneval_problems():
    bundle = humaneval_bundle(4, start=8)
    assert bundle.id == "bundle/4/8"
    assert [p.id for p in bundle.parts] == [f"HumanEval/{i}" for i in range(8, 12)]
    assert get_problem("bundle/4/8").parts == bundle.parts
    assert get_problem("bundle/2").parts[0].id == "HumanEval/0"
    assert "check(" not in bundle.visible_task().model_dump_json()


def test_bundle_modules_are_graded_part_by_part():
    bundle = humaneval_bundle(3)
    verdict = grade(bundle, reference_module(bundle))
    assert verdict.passed and verdict.tests_passed == 3
    partial = reference_module(humaneval_bundle(2))
    assert grade(bundle, partial).tests_passed == 2


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("bundle/200", "HumanEval has only 164"),
        ("bundle/8/160", "needs HumanEval/167"),
        ("bundle/0", "k >= 1"),
        ("bundle/x", "bad bundle id"),
        ("project/nope", "unknown project"),
    ],
)
def test_bad_project_references_are_clear_errors(ref, message):
    with pytest.raises(ProblemError, match=message):
        get_project(ref)


def test_a_malformed_project_file_names_the_line(tmp_path):
    path = tmp_path / "projects.jsonl"
    path.write_text('{"id": "project/x", "title": "x", "statement": "s", "parts": []}\n')
    with pytest.raises(ProblemError, match=r"projects.jsonl:1"):
        read_projects(path)
    path.write_text("{not json\n")
    with pytest.raises(ProblemError, match=r"projects.jsonl:1: malformed"):
        read_projects(path)


def test_projects_are_a_named_dataset():
    assert [p.id for p in load_dataset("projects")] == [p.id for p in read_projects()]
