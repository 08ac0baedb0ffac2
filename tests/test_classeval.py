"""ClassEval as a problem source: the shipped 60 classes as method-by-method tasks, docstring
examples as stateful visible tests, clear errors for malformed files, `hi-moe problems`."""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

import pytest

from graph.state import TestCase
from hi_moe.cli.main import main
from hi_moe.problems.class_examples import session_tests
from hi_moe.problems.class_skeleton import repaired_skeleton
from hi_moe.problems.classeval import (
    CLASSEVAL_FILE,
    ClassTask,
    classeval_exclusions,
    read_classeval,
)
from hi_moe.problems.datasets import compared_tasks, dataset_exclusions, get_problem, load_dataset
from hi_moe.problems.problem import ProblemError
from hi_moe.problems.splits import CLASSEVAL_HELD_OUT, CLASSEVAL_TUNING, evaluation_ids

RECORDS = json.loads(CLASSEVAL_FILE.read_text())
TASKS = read_classeval()
BY_ID = {task.id: task for task in TASKS}


def examples_of(task: ClassTask, method: str) -> list[tuple[str, str, str]]:
    part = next(p for p in task.parts if p.entry_point == method)
    return [(t.setup, t.call, t.expected) for t in part.visible_tests]


def test_every_record_is_a_class_task_with_one_part_per_method():
    assert len(TASKS) == 60 and [t.id for t in TASKS] == [f"ClassEval_{n}" for n in range(60)]
    for task, record in zip(TASKS, RECORDS, strict=True):
        methods = [m["method_name"] for m in record["methods_info"]]
        assert sorted(p.entry_point for p in task.parts) == sorted(methods), task.id
        assert [p.id for p in task.parts] == [f"{task.id}/{p.entry_point}" for p in task.parts]
        assert task.class_name == task.title == record["class_name"]
        assert task.imports == "\n".join(record["import_statement"])
        assert task.test_classes == record["test_classes"]
        assert set(task.method_test_classes.values()) <= set(task.test_classes)
        assert task.reference == record["solution_code"] and task.domain == "classeval"
    assert sum(len(t.parts) for t in TASKS) == 230


def test_the_grader_runs_the_class_level_test_classes_too():
    """The dataset's `test_classes` already holds the class-level test class(es), after the
    per-method ones; two classes have a method-named test class no method points at."""
    task = BY_ID["ClassEval_1"]
    assert task.test_classes[-1] == "AreaCalculatorTestCalculateMain"
    assert "AreaCalculatorTestCalculateMain" not in task.method_test_classes.values()
    assert BY_ID["ClassEval_0"].method_test_classes == {
        "filter": "AccessGatewayFilterTestFilter",
        "is_start_with": "AccessGatewayFilterTestIsStartWith",
        "get_jwt_user": "AccessGatewayFilterTestGetJwtUser",
        "set_current_user_info_and_log": "AccessGatewayFilterTest",
    }


def reaches(task: ClassTask, start: str, goal: str) -> bool:
    """Whether `start` calls `goal`, directly or through other methods."""
    calls = {p.entry_point: p.calls for p in task.parts}
    seen, todo = set(), [start]
    while todo:
        for called in calls[todo.pop()]:
            if called == goal:
                return True
            if called not in seen:
                seen.add(called)
                todo.append(called)
    return False


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_a_method_comes_after_the_methods_it_calls(task):
    """Except in a cycle (ClassEval_23 and 58 have one), which keeps skeleton order."""
    placed = [p.entry_point for p in task.parts]
    for index, part in enumerate(task.parts):
        later = set(part.calls) - set(placed[:index])
        assert all(reaches(task, called, part.entry_point) for called in later), part.id


def test_a_dependency_cycle_keeps_skeleton_order():
    task = BY_ID["ClassEval_58"]
    assert [(p.entry_point, p.calls) for p in task.parts][2:] == [
        ("check_won", ["sweep"]), ("sweep", ["check_won"]),
    ]  # fmt: skip


def test_calls_are_the_other_methods_of_the_class_and_order_is_stable():
    task = BY_ID["ClassEval_0"]
    assert [p.entry_point for p in task.parts] == [
        "is_start_with", "get_jwt_user", "set_current_user_info_and_log", "filter",
    ]  # fmt: skip
    assert task.parts[-1].calls == [
        "is_start_with",
        "get_jwt_user",
        "set_current_user_info_and_log",
    ]
    independent = BY_ID["ClassEval_9"]
    assert [p.entry_point for p in independent.parts] == ["add", "subtract", "multiply"]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_statements_are_the_skeletons_method_text(task):
    record = RECORDS[int(task.id.removeprefix("ClassEval_"))]
    descriptions = {
        m["method_name"]: repaired_skeleton(m["method_description"]) for m in record["methods_info"]
    }
    for part in task.parts:
        assert textwrap.indent(part.statement, "    ") in task.skeleton, part.id
        shown = [line.strip() for line in part.statement.splitlines()]
        assert shown == [line.strip() for line in descriptions[part.entry_point].splitlines()]
    assert task.skeleton == repaired_skeleton(record["skeleton"])
    assert task.statement.endswith(task.skeleton)


def test_every_skeleton_parses_and_only_the_broken_ones_are_repaired():
    repaired = {t.id for t in TASKS if t.skeleton != RECORDS[int(t.id.split("_")[1])]["skeleton"]}
    assert repaired == {"ClassEval_5", "ClassEval_22", "ClassEval_43", "ClassEval_46"}
    for task in TASKS:
        ast.parse(task.skeleton)
        for part in task.parts:
            ast.parse(f"class C:\n{textwrap.indent(part.statement.rstrip(), '    ')}\n    pass\n")


def test_skeleton_repairs():
    assert repaired_skeleton("'''\nclass A:\n    pass\n'''") == "class A:\n    pass\n"
    assert repaired_skeleton("def f():\n    “”“\n    doc\n    ”“”\n") == (
        'def f():\n    """\n    doc\n    """\n'
    )
    unclosed = (
        'class A:\n    def f(self):\n        """\n        doc\n\n'
        '    def g(self):\n        """x"""\n'
    )
    assert repaired_skeleton(unclosed) == (
        'class A:\n    def f(self):\n        """\n        doc\n        """\n\n'
        '    def g(self):\n        """x"""\n'
    )
    assert repaired_skeleton('def f():\n    """\n    doc') == 'def f():\n    """\n    doc\n    """'


def test_the_visible_task_is_the_skeleton_and_the_parts():
    task = BY_ID["ClassEval_20"]
    visible = task.visible_task()
    assert (visible.problem_id, visible.title, visible.class_name) == (
        "ClassEval_20",
        "Chat",
        "Chat",
    )
    assert visible.statement == task.statement and visible.skeleton == task.skeleton
    assert [p.name for p in visible.parts] == [p.entry_point for p in task.parts]
    assert [p.source_id for p in visible.parts] == [p.id for p in task.parts]
    assert visible.parts[0].visible_tests == task.parts[0].visible_tests


def test_a_skeleton_missing_an_import_line_gets_it_in_the_statement():
    task = BY_ID["ClassEval_39"]
    assert "from decimal import Decimal" not in task.skeleton
    assert task.statement.startswith("import re\nfrom collections import deque\n")


def test_examples_on_all_sixty_classes():
    counts = [len(p.visible_tests) for t in TASKS for p in t.parts]
    stateful = [v for t in TASKS for p in t.parts for v in p.visible_tests if "\n" in v.setup]
    assert sum(counts) == 185 and sum(1 for c in counts if c) == 159 and len(stateful) == 73


def test_real_examples_access_gateway_filter():
    task = BY_ID["ClassEval_0"]
    build = "filter = AccessGatewayFilter()"
    assert examples_of(task, "filter") == [
        (build, "filter.filter({'path': '/login', 'method': 'POST'})", "True")
    ]
    assert examples_of(task, "is_start_with") == [
        (build, "filter.is_start_with('/api/data')", "True")
    ]
    # An output that is no Python expression (an unclosed dict), and a call with no output.
    assert (
        examples_of(task, "get_jwt_user")
        == examples_of(task, "set_current_user_info_and_log")
        == []
    )


def test_real_examples_a_stateful_class():
    task = BY_ID["ClassEval_20"]
    build = "chat = Chat()"
    users = "chat.users = {'John': []}"
    assert examples_of(task, "add_user") == [
        (f"{build}\nchat.add_user('John')", "chat.add_user('John')", "False")
    ]
    assert examples_of(task, "remove_user") == [
        (f"{build}\n{users}", "chat.remove_user('John')", "True"),
        (f"{build}\n{users}\nchat.remove_user('John')", "chat.remove_user('John')", "False"),
    ]


def test_real_examples_an_assignment_shown_with_its_value_tests_the_name():
    [(setup, call, expected)] = examples_of(BY_ID["ClassEval_5"], "interpret")
    assert setup.endswith("\nplay_list = context.interpret(display = False)")
    assert call == "play_list" and expected.startswith("[{'Chord': 'C', 'Tune': '53231323'}")


def test_real_examples_an_object_built_nowhere_makes_no_test():
    """ArgumentParser's docstrings use `parser` without building it."""
    assert all(not p.visible_tests for p in BY_ID["ClassEval_2"].parts)


STATEFUL = '''
    Push and peek.
    >>> stack = Stack()
    >>> stack.push(1)
    >>> stack.push(2)
    >>> stack.peek()
    2
    >>> stack.pop()
    2
    >>> stack.peek()
    1
    """
'''


def test_setup_carries_over_like_a_doctest_session():
    tests = session_tests(STATEFUL, {"Stack"})
    build = "stack = Stack()\nstack.push(1)\nstack.push(2)"
    assert tests == [
        TestCase(setup=build, call="stack.peek()", expected="2"),
        TestCase(setup=f"{build}\nstack.peek()", call="stack.pop()", expected="2"),
        TestCase(setup=f"{build}\nstack.peek()\nstack.pop()", call="stack.peek()", expected="1"),
    ]


def test_multi_line_output_and_continuation_lines():
    docstring = (
        ">>> grid = Grid(2,\n"
        "...             2)\n"
        ">>> grid.rows()\n"
        "[[0, 0],\n"
        " [0, 0]]\n"
        "\n"
        ">>> grid.fill([1,\n"
        "                1])\n"
        ">>> grid.rows()\n"
        "[[1, 1], [0, 0]]\n"
    )
    first, second = session_tests(docstring, {"Grid"})
    assert first == TestCase(setup="grid = Grid(2,\n            2)", call="grid.rows()",
                             expected="[[0, 0],\n [0, 0]]")  # fmt: skip
    assert second.setup == f"{first.setup}\ngrid.rows()\ngrid.fill([1,\n1])"
    assert second.expected == "[[1, 1], [0, 0]]"


@pytest.mark.parametrize(
    "output",
    [
        "<__main__.Stack object at 0x7f3a2c1d>",
        "Pushed 1 onto the stack",
        "stack.items = [1]",
        "Traceback (most recent call last):\n...\nIndexError: pop from empty list",
    ],
)
def test_outputs_that_cannot_be_compared_make_no_test(output):
    docstring = f">>> stack = Stack()\n>>> stack.push(1)\n{output}\n>>> stack.size()\n1\n"
    [test] = session_tests(docstring, {"Stack"})
    ran = "" if output.startswith("Traceback") else "\nstack.push(1)"
    assert test == TestCase(setup=f"stack = Stack(){ran}", call="stack.size()", expected="1")


def test_no_test_without_output_and_none_with_an_unbound_name():
    assert session_tests(">>> s = Stack()\n>>> s.push(1)\n", {"Stack"}) == []
    assert session_tests(">>> s.size()\n0\n", {"Stack"}) == []
    assert session_tests(">>> math.floor(s.size())\n0\n", {"math", "s"}) == [
        TestCase(call="math.floor(s.size())", expected="0")
    ]


def test_closing_quotes_end_the_last_output():
    assert session_tests('>>> Calc.add(1, 2)\n3\n"""', {"Calc"}) == [
        TestCase(call="Calc.add(1, 2)", expected="3")
    ]
    assert session_tests('>>> Calc.add(1, 2)\n3"""', {"Calc"})[0].expected == "3"


def test_the_named_dataset_leaves_out_the_exclusions_and_says_why():
    excluded = classeval_exclusions()
    kept = load_dataset("classeval")
    assert [t.id for t in kept] == [t.id for t in TASKS if t.id not in excluded]
    assert dataset_exclusions("classeval") == excluded and dataset_exclusions("builtin") == {}
    assert len(load_dataset(str(CLASSEVAL_FILE))) == 60
    tasks, left_out = compared_tasks("classeval")
    assert len(tasks) == len(kept) and left_out == []


def test_problems_by_id_or_number():
    assert get_problem("ClassEval_3", "classeval").id == "ClassEval_3"
    assert get_problem("3", "classeval").id == "ClassEval_3"
    assert get_problem("ClassEval_3").id == "ClassEval_3"
    for task_id, reason in classeval_exclusions().items():
        with pytest.raises(ProblemError, match="is excluded from classeval"):
            get_problem(task_id, "classeval")
        assert reason


def test_exclusions_file_missing_or_malformed(tmp_path):
    assert classeval_exclusions(tmp_path / "none.json") == {}
    bad = tmp_path / "exclusions.json"
    bad.write_text('["ClassEval_1"]')
    with pytest.raises(ProblemError, match="must be a JSON object of task_id: reason"):
        classeval_exclusions(bad)
    bad.write_text("{")
    with pytest.raises(ProblemError, match="is not readable JSON"):
        classeval_exclusions(bad)


def test_all_sixty_are_evaluated_and_split_for_tuning():
    assert {t.id for t in TASKS} <= evaluation_ids()
    assert {p.id for t in TASKS for p in t.parts} <= evaluation_ids()
    assert len(CLASSEVAL_TUNING) == 40 and len(CLASSEVAL_HELD_OUT) == 20
    assert CLASSEVAL_HELD_OUT[0] == "ClassEval_40" and CLASSEVAL_TUNING[-1] == "ClassEval_39"


def with_record(tmp_path: Path, change: dict, index: int = 3) -> Path:
    records = [dict(r) for r in RECORDS[:5]]
    records[index] = {k: v for k, v in {**records[index], **change}.items() if v is not None}
    path = tmp_path / "classes.json"
    path.write_text(json.dumps(records))
    return path


def first_method(record: dict, **change: object) -> list[dict]:
    return [{**record["methods_info"][0], **change}, *record["methods_info"][1:]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"methods_info": "count"}, "record ClassEval_3: field 'methods_info' must be a list"),
        ({"skeleton": None}, "record ClassEval_3: field 'skeleton' is missing"),
        ({"test_classes": [1]}, "record ClassEval_3: field 'test_classes' must be a list of text"),
        ({"task_id": None}, "record #3: field 'task_id' is missing"),
        ({"methods_info": []}, "record ClassEval_3: field 'methods_info' must list each method"),
        (
            {"methods_info": first_method(RECORDS[3], method_name=None)},
            "record ClassEval_3: methods_info[0]: field 'method_name' must be text",
        ),
        (
            {"methods_info": first_method(RECORDS[3], method_description="def nowhere(self):")},
            "record ClassEval_3: methods_info[0]: field 'method_description' is not in the skel",
        ),
        (
            {"methods_info": first_method(RECORDS[3], dependencies={"method_dependencies": 1})},
            "methods_info[0]: dependencies: field 'method_dependencies' must be a list",
        ),
    ],
)
def test_a_malformed_record_names_the_file_record_and_field(tmp_path, change, message):
    path = with_record(tmp_path, change)
    with pytest.raises(ProblemError) as raised:
        read_classeval(path)
    text = str(raised.value)
    assert text.startswith(f"classeval file {path}: ") and message in text and "\n" not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "not valid JSON"),
        ("[]", "holds no classes"),
        ('{"skeleton": ""}', "expected a JSON array of class records"),
        ('[3, {"skeleton": ""}]', "record #0: a record must be a JSON object"),
    ],
)
def test_a_malformed_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "classes.json"
    path.write_text(content)
    with pytest.raises(
        ProblemError, match=f"^classeval file {re.escape(str(path))}.*{re.escape(message)}"
    ):
        read_classeval(path)


def run_cli(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_problems_command_lists_kept_then_excluded_classes(capsys):
    code, out = run_cli(capsys, "problems", "--dataset", "classeval")
    assert code == 0, out
    listing, _, excluded = out.partition("\nexcluded (")
    lines = [line for line in listing.splitlines() if line.strip()]
    assert len(lines) == len(load_dataset("classeval"))
    assert lines[0].split() == [
        "ClassEval_0", "code", "classeval", "AccessGatewayFilter", "(4", "parts,", "2", "visible",
        "tests)",
    ]  # fmt: skip
    reasons = classeval_exclusions()
    assert excluded.startswith(f"{len(reasons)}):")
    for task_id, reason in reasons.items():
        assert f"{task_id:16} {reason}" in excluded
        assert not any(line.startswith(f"{task_id} ") for line in lines)


def test_problems_command_on_a_malformed_file_is_exit_2_with_one_error_line(tmp_path, capsys):
    path = with_record(tmp_path, {"fields": "self.x"})
    code, out = run_cli(capsys, "problems", "--dataset", str(path))
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert code == 2 and "Traceback" not in out and len(errors) == 1, out
    assert "record ClassEval_3: field 'fields' must be a list" in errors[0]
