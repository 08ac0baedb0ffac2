"""Problem sets: references pass hidden tests, hidden tests stay hidden, loaders fail clearly."""

import ast
import json
import re
from collections import Counter

import pytest

from hi_moe.problems.datasets import get_problem, load_dataset
from hi_moe.problems.examples import statement_tests
from hi_moe.problems.grading import answers_match, grade
from hi_moe.problems.problem import Problem, ProblemError, read_jsonl
from hi_moe.sandbox.checks import check_function
from hi_moe.sandbox.literals import matches

BUILTIN = load_dataset("builtin")
MATH = load_dataset("math")
OWN = BUILTIN + MATH


def test_builtin_set_size_and_domains():
    code = [p for p in BUILTIN if p.kind == "code"]
    assert len(code) >= 20
    domains = Counter(p.domain for p in code)
    assert domains["bugfix"] >= 1
    assert domains["refactor"] >= 1


def test_math_set_size():
    assert len(MATH) >= 10
    assert all(p.kind == "math" and p.answer for p in MATH)


def test_ids_are_unique():
    ids = [p.id for p in OWN]
    assert len(ids) == len(set(ids))


def test_every_code_problem_has_an_entry_point_and_hidden_tests():
    for problem in BUILTIN:
        assert problem.entry_point, problem.id
        assert problem.hidden_tests, problem.id
        assert problem.visible_tests, problem.id


@pytest.mark.parametrize("problem", OWN, ids=lambda p: p.id)
def test_reference_passes_its_hidden_tests(problem):
    result = grade(problem, problem.reference)
    assert result.passed, f"{problem.id}: {result.detail}"
    assert result.tests_passed == result.tests_total


@pytest.mark.parametrize("problem", BUILTIN, ids=lambda p: p.id)
def test_reference_passes_its_visible_tests(problem):
    report = check_function(problem.reference, problem.entry_point, problem.visible_tests)
    assert report.ran_ok, report.error
    assert report.passed == report.total


def _leaked_hidden_calls(problem: Problem) -> list[str]:
    dumped = problem.visible_task().model_dump_json()
    visible = {t.call for t in problem.visible_tests}
    leaked = []
    for test in problem.hidden_tests:
        if test.call in visible:
            continue
        escaped = json.dumps(test.call)[1:-1]
        if test.call in dumped or escaped in dumped:
            leaked.append(test.call)
    return leaked


@pytest.mark.parametrize("problem", BUILTIN, ids=lambda p: p.id)
def test_hidden_tests_never_reach_the_visible_task(problem):
    assert _leaked_hidden_calls(problem) == []


def test_leak_check_detects_a_leak():
    problem = BUILTIN[0].model_copy()
    hidden = problem.hidden_tests[0].call
    problem.statement += f"\n# also try {hidden}\n"
    assert _leaked_hidden_calls(problem) == [hidden]


def test_visible_task_carries_no_answer_or_reference():
    for problem in OWN:
        dumped = problem.visible_task().model_dump_json()
        assert "reference" not in json.loads(dumped)
        assert "hidden" not in dumped
        if problem.kind == "code":
            body = problem.reference.split("\n", 1)[1].strip()
            assert json.dumps(body)[1:-1] not in dumped, problem.id


def test_wrong_code_solution_fails():
    problem = get_problem("builtin/0")
    result = grade(problem, "def reverse_string(s):\n    return s\n")
    assert not result.passed
    assert result.tests_passed < result.tests_total
    assert "failed" in result.detail


def test_solution_without_entry_point_fails():
    result = grade(get_problem("builtin/0"), "x = 1\n")
    assert not result.passed
    assert result.tests_passed == 0
    assert "does not define" in result.detail


def test_wrong_math_answer_fails():
    problem = get_problem("math/0")
    result = grade(problem, "print(9)")
    assert not result.passed
    assert "expected 8" in result.detail


@pytest.mark.parametrize("trick", ["print(float('inf'))", "print('nan')", "print('no idea')"])
def test_math_non_answers_fail(trick):
    assert not grade(get_problem("math/0"), trick).passed


def test_answers_match_tolerance():
    assert answers_match(238.0, "238")
    assert answers_match(0.1 + 0.2, "0.3")
    assert not answers_match(239.0, "238")
    assert not answers_match(None, "238")
    assert not answers_match(float("inf"), "238")


# HumanEval


@pytest.fixture(scope="module")
def humaneval():
    return load_dataset("humaneval")


def test_humaneval_loads_164_problems(humaneval):
    assert len(humaneval) == 164
    assert humaneval[0].id == "HumanEval/0"
    assert all(p.hidden_check and p.entry_point for p in humaneval)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_humaneval_reference_passes(humaneval, index):
    problem = humaneval[index]
    result = grade(problem, problem.reference)
    assert result.passed, result.detail


def test_humaneval_wrong_solution_fails(humaneval):
    problem = humaneval[2]
    result = grade(problem, "def truncate_number(number):\n    return number\n")
    assert not result.passed
    assert result.detail


def shown(text: str) -> str:
    """`text` as compared with a statement: no spaces, one kind of quote, lower case."""
    return re.sub(r"\s", "", text).replace('"', "'").lower()


def test_humaneval_visible_tests_come_from_docstring_examples(humaneval):
    for problem in humaneval:
        statement = shown(problem.statement)
        for test in problem.visible_tests:
            arguments = test.call.removeprefix(f"{problem.entry_point}(").removesuffix(")")
            assert shown(arguments) in statement, (problem.id, test.call)
            assert shown(test.expected) in statement, (problem.id, test.expected)


def test_humaneval_last_docstring_example_is_kept(humaneval):
    calls = [t.call for t in humaneval[0].visible_tests]
    assert calls == [
        "has_close_elements([1.0, 2.0, 3.0], 0.5)",
        "has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)",
    ]
    assert [t.expected for t in humaneval[0].visible_tests] == ["False", "True"]


def test_humaneval_check_code_stays_hidden(humaneval):
    for problem in humaneval[:20]:
        dumped = problem.visible_task().model_dump_json()
        assert "def check(" not in dumped, problem.id


def test_doctest_examples_skip_non_literal_and_other_functions():
    prompt = (
        'def f(x):\n    """Doc.\n'
        "    >>> f(1)\n    2\n"
        "    >>> g(1)\n    3\n"
        "    >>> f(2)\n    <object at 0x1>\n"
        '    >>> f(3)\n    4\n    """\n'
    )
    tests = statement_tests(prompt, "f")
    assert [(t.call, t.expected) for t in tests] == [("f(1)", "2"), ("f(3)", "4")]


@pytest.mark.parametrize(
    ("line", "call", "expected"),
    [
        ("f([1, 2], 5) ➞ False", "f([1, 2], 5)", "False"),
        ("for f(7, 34) == 34", "f(7, 34)", "34"),
        ("f(1, 4) => true", "f(1, 4)", "True"),
        ("f(1)  ==> (1, 2)", "f(1)", "(1, 2)"),
        ("* f(5) -> [11, 4]", "f(5)", "[11, 4]"),
        ("f('Hi') returns 'Hi'", "f('Hi')", "'Hi'"),
        ("f(148, 412) should return 16.", "f(148, 412)", "16"),
        ("f(\"a.txt\") # => 'No' (the name must start with a letter)", 'f("a.txt")', "'No'"),
        ("f(5) returns [1, 5] # 5, 16, 8, 4, 2, 1: the odd ones", "f(5)", "[1, 5]"),
        ('f("5 apples", 19) ->19 - 5 = 14', 'f("5 apples", 19)', "14"),
        ('f("#a@C") = "#A@c"', 'f("#a@C")', "'#A@c'"),
        (">>> f([]) == None", "f([])", "None"),
    ],
)
def test_call_line_examples_become_tests(line, call, expected):
    prompt = f'def f(a, b=0):\n    """Doc.\n    {line}\n    """\n'
    assert [(t.call, t.expected) for t in statement_tests(prompt, "f")] == [(call, expected)]


@pytest.mark.parametrize(
    "line",
    [
        "f(a) => False",  # a name, not a literal argument
        "Write a function f() that returns the sum.",
        'f(["a"]) == ""a"',  # a broken literal
        "f(n) = f(n - 1) + 1",
        "g(1) == 2",
    ],
)
def test_lines_that_are_not_examples_give_no_test(line):
    prompt = f'def f(a):\n    """Doc.\n    {line}\n    """\n'
    assert statement_tests(prompt, "f") == []


def test_prose_examples_name_parameters_or_give_the_one_argument():
    one = (
        'def f(lst):\n    """Doc.\n    For lst = [1,2,3] the output should be 14\n'
        "    Example 1:\n        Input: [4,2]\n        Output: [2, 1]\n"
        '        Explanation: the smallest even value.\n    """\n'
    )
    two = (
        'def g(s, c):\n    """Doc.\n'
        '    For s = "abcde", c = "ae", the result should be (\'bcd\',False)\n'
        "    For x = 1, c = 2 the output should be 3\n"
        '    Input: "ab"\n    Output: 1\n    """\n'
    )
    assert [(t.call, t.expected) for t in statement_tests(one, "f")] == [
        ("f(lst = [1,2,3])", "14"),
        ("f([4,2])", "[2, 1]"),
    ]
    assert [(t.call, t.expected) for t in statement_tests(two, "g")] == [
        ('g(s = "abcde", c = "ae")', "('bcd', False)")
    ]


DOCSTRING_ERRORS = {"HumanEval/47", "HumanEval/116", "HumanEval/130", "HumanEval/148"}
"""Problems whose docstring shows an example its reference solution does not meet."""


def test_humaneval_visible_tests_agree_with_the_references(humaneval):
    with_tests = [p for p in humaneval if p.visible_tests]
    disagreeing = set()
    for problem in with_tests:
        namespace: dict = {}
        exec(problem.reference, namespace)  # the benchmark's own trusted solution
        for test in problem.visible_tests:
            if not matches(eval(test.call, namespace), ast.literal_eval(test.expected)):
                disagreeing.add(problem.id)
    assert len(with_tests) >= 150
    assert disagreeing == DOCSTRING_ERRORS


# Loaders and lookups


def _line(problem_id: str) -> str:
    return json.dumps({"id": problem_id, "statement": "Do it.", "entry_point": "f"})


def test_read_jsonl_reads_problems_and_skips_blank_lines(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text(_line("x/0") + "\n\n" + _line("x/1") + "\n")
    assert [p.id for p in read_jsonl(path)] == ["x/0", "x/1"]


@pytest.mark.parametrize("bad", ["{not json", '{"id": "x/1"}', "[1, 2]"])
def test_malformed_line_names_file_and_line(tmp_path, bad):
    path = tmp_path / "bad.jsonl"
    path.write_text(_line("x/0") + "\n" + bad + "\n")
    with pytest.raises(ProblemError, match=rf"{path}:2: malformed problem line"):
        read_jsonl(path)


def test_missing_file_is_a_problem_error(tmp_path):
    with pytest.raises(ProblemError, match="does not exist"):
        read_jsonl(tmp_path / "absent.jsonl")


def test_empty_file_is_a_problem_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(ProblemError, match="holds no problems"):
        read_jsonl(path)


def test_load_dataset_reads_a_jsonl_path(tmp_path):
    path = tmp_path / "custom.jsonl"
    path.write_text(_line("custom/7") + "\n")
    assert [p.id for p in load_dataset(str(path))] == ["custom/7"]
    assert get_problem("custom/7", str(path)).entry_point == "f"


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ProblemError, match="unknown dataset 'nope'.*builtin, math, humaneval"):
        load_dataset("nope")


@pytest.mark.parametrize(
    ("ref", "dataset", "expected_id"),
    [
        ("0", "builtin", "builtin/0"),
        ("builtin/0", "builtin", "builtin/0"),
        ("math/2", "builtin", "math/2"),
        ("builtin/3", "math", "builtin/3"),
        ("2", "math", "math/2"),
        ("HumanEval/0", "humaneval", "HumanEval/0"),
        ("5", "humaneval", "HumanEval/5"),
        ("HumanEval/0", "builtin", "HumanEval/0"),
    ],
)
def test_get_problem(ref, dataset, expected_id):
    assert get_problem(ref, dataset).id == expected_id


@pytest.mark.parametrize("ref", ["999", "builtin/999", "math/999", "nosuch/1"])
def test_get_problem_unknown_id(ref):
    with pytest.raises(ProblemError, match="unknown problem"):
        get_problem(ref)
