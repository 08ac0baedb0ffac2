"""MBPP Pro as two-part tasks: loaded from the shipped file, graded by its hidden asserts."""

import json

import pytest

from graph.state import Candidate
from hi_moe.problems.datasets import compared_tasks, load_dataset
from hi_moe.problems.grading import grade
from hi_moe.problems.mbpp_pro import names_its_function, read_mbpp_pro
from hi_moe.problems.problem import ProblemError
from hi_moe.sandbox.visible import check_code
from nodes.assembly import contract

TASKS = load_dataset("mbpp-pro")


def test_every_task_is_a_base_part_then_a_new_part_with_the_hidden_test():
    assert len(TASKS) == 378
    first = TASKS[0]
    assert first.id == "mbpp-pro/0"
    assert [p.entry_point for p in first.parts] == ["similar_elements", "shared_elements"]
    base, new = first.parts
    assert base.hidden_check is None and new.hidden_check.startswith("def check(candidate):")
    assert new.statement.startswith("# It must call `similar_elements` (the first function).\n")
    task = first.visible_task()
    assert [p.visible_tests for p in task.parts] == [[], []]
    assert [p.calls for p in task.parts] == [[], ["similar_elements"]]
    assert "assert" not in task.statement + "".join(p.statement for p in task.parts)


def test_a_new_parts_contract_is_its_own_job_not_the_note_naming_the_base_function():
    base, new = TASKS[0].visible_task().parts
    assert (
        contract(base) == "Write a function to find the shared elements from the given two lists."
    )
    assert contract(new).startswith("Given a list of lists, write a function to find the shared")


def test_tasks_whose_statements_never_name_the_tested_function_are_left_out():
    """In 24 tasks the new statement repeats the base signature; the name the hidden test
    calls is in the reference alone, so compare leaves them out and names them."""
    tasks, left_out = compared_tasks("mbpp-pro", limit=100)
    assert len(left_out) == 24
    assert left_out[:7] == [f"mbpp-pro/{n}" for n in (19, 36, 41, 47, 69, 75, 82)]
    assert len(tasks) == 100 and all(names_its_function(t) for t in tasks)
    assert tasks[-1].id == "mbpp-pro/108" and "mbpp-pro/19" not in {t.id for t in tasks}
    nineteen = next(t for t in TASKS if t.id == "mbpp-pro/19")
    statements = "".join(p.statement for p in nineteen.parts)
    assert "total_count_Substrings(" in nineteen.parts[1].hidden_check
    assert "total_count_Substrings" not in statements


def test_skip_continues_where_the_first_tasks_end():
    """`--skip 100` starts at the task after the first 100 answerable ones: a held-out set."""
    held_out, _ = compared_tasks("mbpp-pro", limit=50, skip=100)
    assert [t.id for t in held_out[:1] + held_out[-1:]] == ["mbpp-pro/109", "mbpp-pro/162"]
    assert len(held_out) == 50 and all(names_its_function(t) for t in held_out)


@pytest.mark.parametrize("task", TASKS[:5], ids=lambda t: t.id)
def test_the_references_pass_and_the_base_alone_fails(task):
    base, new = task.parts
    assert grade(task, base.reference + "\n\n" + new.reference).passed
    assert not grade(task, base.reference).passed


NOT_CALLING = "def shared_elements(lists):\n    return ()\n"
VIA_A_HELPER = (
    "def pair(a, b):\n    return similar_elements(a, b)\n\n"
    "def shared_elements(lists):\n    return pair(lists[0], lists[1]) if lists else ()\n"
)
ONLY_ITSELF = "def similar_elements(a, b):\n    return similar_elements(b, a)\n\n" + NOT_CALLING


@pytest.mark.parametrize(
    ("code", "passes"), [(NOT_CALLING, False), (VIA_A_HELPER, True), (ONLY_ITSELF, False)]
)
def test_the_new_part_must_call_the_base_part_as_its_statement_says(code, passes):
    """A visible check every system gets: the code calls the base function somewhere outside
    that function's own definition."""
    new = TASKS[0].visible_task().parts[1]
    base = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n\n"
    candidate = Candidate(subgoal_id=1, try_index=0, specialist="python", code=code)
    attempt = check_code(candidate, new, base, timeout_s=10.0)
    assert attempt.ran_ok and attempt.tests_total == 1 and attempt.passed_all == passes
    if not passes:
        assert "`shared_elements` does not call `similar_elements`" in attempt.feedback


def test_a_malformed_task_names_its_place_and_field(tmp_path):
    good = {"id": 1, "raw_problem": "def f(x):\n", "raw_solution": "  return x\n",
            "new_problem": "def g(x):\n", "new_solution": "  return f(x)\n",
            "test_code": "assert g(1) == 1"}  # fmt: skip
    array = tmp_path / "tasks.json"
    array.write_text(json.dumps([good, {**good, "test_code": None}]))
    with pytest.raises(ProblemError, match=r"tasks.json: task #1: field 'test_code'"):
        read_mbpp_pro(array)
    lines = tmp_path / "tasks.jsonl"
    lines.write_text(json.dumps(good) + "\n" + json.dumps({**good, "new_problem": "g = 1\n"}))
    with pytest.raises(ProblemError, match=r"tasks.jsonl:2: field 'new_problem' holds no"):
        load_dataset(str(lines))
    lines.write_text(json.dumps(good) + "\n")
    [task] = load_dataset(str(lines))
    module = "def f(x):\n  return x\ndef g(x):\n  return f(x)\n"
    assert task.id == "mbpp-pro/1" and grade(task, module).passed
