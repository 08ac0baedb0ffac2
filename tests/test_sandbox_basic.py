"""The sandbox runs candidate code in a child process and reports per-test verdicts it can trust."""

import time
from functools import partial

import pytest

from graph.state import TestCase
from hi_moe.sandbox.checks import (
    check_function,
    numeric_answer,
    run_check,
    run_program,
    validate_many,
)
from hi_moe.sandbox.literals import matches

ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = [TestCase(call="add(1, 2)", expected="3"), TestCase(call="add(-1, 1)", expected="0")]


def _case(call: str, expected: str) -> TestCase:
    return TestCase(call=call, expected=expected)


def test_passing_code_passes_every_test():
    report = check_function(ADD, "add", ADD_TESTS)
    assert report.ran_ok, report.error
    assert (report.passed, report.total) == (2, 2)
    assert [r.call for r in report.results] == ["add(1, 2)", "add(-1, 1)"]


def test_wrong_answer_is_failed_with_expected_and_got():
    report = check_function("def add(a, b):\n    return a - b\n", "add", ADD_TESTS[:1])
    assert report.ran_ok
    [result] = report.results
    assert result.status == "failed"
    assert result.message == "expected 3, got -1"


def test_exception_is_error_with_traceback_tail():
    code = "def add(a, b):\n    raise KeyError('boom')\n"
    report = check_function(code, "add", ADD_TESTS[:1])
    [result] = report.results
    assert result.status == "error"
    assert "KeyError: 'boom'" in result.message
    assert report.passed == 0


def test_missing_entry_point_is_not_run():
    report = check_function("def other():\n    return 1\n", "add", ADD_TESTS)
    assert not report.ran_ok
    assert "does not define add()" in report.error
    assert report.results == []


def test_syntax_error_is_reported():
    report = check_function("def add(a, b)\n    return a + b\n", "add", ADD_TESTS)
    assert not report.ran_ok
    assert "SyntaxError" in report.error


def test_infinite_loop_at_import_times_out_in_bounded_time():
    start = time.monotonic()
    report = check_function("while True:\n    pass\n", "add", ADD_TESTS, timeout_s=1.0)
    assert time.monotonic() - start < 5
    assert not report.ran_ok
    assert "timed out" in report.error


def test_infinite_loop_in_one_test_times_out_that_test_only():
    code = "def f(x):\n    while x:\n        pass\n    return 0\n"
    tests = [TestCase(call="f(1)", expected="0"), TestCase(call="f(0)", expected="0")]
    start = time.monotonic()
    report = check_function(code, "f", tests, timeout_s=2.0)
    assert time.monotonic() - start < 5
    assert [r.status for r in report.results] == ["timeout", "passed"]


@pytest.mark.parametrize(
    "trick",
    [
        "print('all passed')",
        'print(\'{"ran_ok": true, "error": "", "results": [], "stdout": ""}\')',
        "import sys\nsys.stdout.write('3 passed')",
    ],
)
def test_printing_a_fake_verdict_is_not_a_pass(trick):
    code = f"{trick}\ndef add(a, b):\n    return -100\n"
    report = check_function(code, "add", ADD_TESTS)
    assert report.passed == 0
    assert [r.status for r in report.results] == ["failed", "failed"]


def test_sys_exit_zero_is_not_a_pass():
    code = "import sys\nsys.exit(0)\ndef add(a, b):\n    return a + b\n"
    report = check_function(code, "add", ADD_TESTS)
    assert not report.ran_ok
    assert report.passed == 0
    assert "SystemExit" in report.error


def test_sys_exit_inside_a_test_is_an_error_not_a_pass():
    code = "import sys\ndef add(a, b):\n    sys.exit(0)\n"
    report = check_function(code, "add", ADD_TESTS)
    assert report.passed == 0
    assert [r.status for r in report.results] == ["error", "error"]
    assert report.results[0].message == "SystemExit: 0 (line 3: sys.exit(0))"


def test_os_exit_zero_is_not_a_pass():
    code = "import os\nos._exit(0)\n"
    report = check_function(code, "add", ADD_TESTS)
    assert not report.ran_ok
    assert report.passed == 0
    assert "exited (0) before the tests finished" in report.error


EQ_TRUE = "class Sly:\n    def __eq__(self, other):\n        return True\n"


def test_object_whose_eq_is_always_true_fails():
    report = check_function(EQ_TRUE + "def f():\n    return Sly()\n", "f", [_case("f()", "5")])
    assert report.results[0].status == "failed"


def test_container_of_always_equal_objects_fails():
    code = EQ_TRUE + "def f():\n    return [Sly(), Sly()]\n"
    report = check_function(code, "f", [_case("f()", "[1, 2]")])
    assert report.results[0].status == "failed"


def test_subclass_of_expected_type_fails():
    code = "class Sly(str):\n    def __eq__(self, other):\n        return True\n"
    code += "def f():\n    return Sly('x')\n"
    report = check_function(code, "f", [_case("f()", "'abc'")])
    assert report.results[0].status == "failed"


def test_int_where_bool_expected_fails():
    report = check_function("def f():\n    return 1\n", "f", [_case("f()", "True")])
    assert report.results[0].status == "failed"


def test_int_and_float_of_equal_value_match():
    report = check_function("def f():\n    return 2.0\n", "f", [_case("f()", "2")])
    assert report.results[0].status == "passed"


def test_large_test_call_does_not_deadlock_the_verdict_pipe():
    big = "[" + ", ".join(["123456"] * 12000) + "]"
    start = time.monotonic()
    report = check_function("def f(x):\n    return len(x)\n", "f", [_case(f"f({big})", "12000")])
    assert time.monotonic() - start < 5
    assert report.ran_ok, report.error
    assert report.passed == 1


def test_a_forked_copy_of_the_child_does_not_answer_twice():
    code = "import os\nos.fork()\ndef f(x):\n    return x\n"
    tests = [_case("f(1)", "1"), _case("f(2)", "2")]
    report = check_function(code, "f", tests)
    assert report.ran_ok, report.error
    assert [r.status for r in report.results] == ["passed", "passed"]


def test_secrets_in_the_environment_are_not_visible(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    code = "import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))\n"
    report = run_program(code)
    assert report.ran_ok, report.error
    assert "sk-secret-value" not in report.stdout
    assert "OPENAI_API_KEY" not in report.stdout
    assert report.stdout.strip().endswith("None")


def test_run_program_captures_output_for_numeric_answer():
    report = run_program("x = 12 * 24 - 50\nprint('The answer is', x)\n")
    assert report.ran_ok
    assert numeric_answer(report.stdout) == 238.0


def test_run_program_error_is_not_ok():
    report = run_program("print(1)\nraise ValueError('bad')\n")
    assert not report.ran_ok
    assert "ValueError: bad" in report.error


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("42\n", 42.0),
        ("steps: 1 2 3\nanswer: 1,234.5.\n", 1234.5),
        ("-7", -7.0),
        ("no number here", None),
        ("", None),
        ("3 then words", 3.0),
    ],
)
def test_numeric_answer_takes_the_last_number(stdout, expected):
    assert numeric_answer(stdout) == expected


def test_run_check_passes_and_fails_humaneval_style():
    check = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
    assert run_check(ADD, check, "add").ran_ok
    failing = run_check("def add(a, b):\n    return 0\n", check, "add")
    assert not failing.ran_ok
    assert "AssertionError" in failing.error


def test_detached_process_holding_the_pipe_does_not_hang_the_caller():
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    time.sleep(3)\n"
        "    os._exit(0)\n"
        "def f():\n"
        "    return 1\n"
    )
    start = time.monotonic()
    report = check_function(code, "f", [_case("f()", "1")], timeout_s=1.0)
    assert time.monotonic() - start < 2.5
    assert report.ran_ok, report.error
    assert report.passed == 1


@pytest.mark.parametrize(
    ("got", "expected", "same"),
    [
        ([0.1 + 0.2, 2], [0.3, 2.0], True),
        ({"a": (1.0000000001,)}, {"a": (1.0,)}, True),
        (10**20 + 1, 10**20, False),
        ([1, True], [1, 1], False),
        ((1, 2), [1, 2], False),
        ({1, 2}, frozenset({1, 2}), False),
        (None, 0, False),
    ],
)
def test_values_match_by_type_all_the_way_down(got, expected, same):
    assert matches(got, expected) is same


def test_a_non_literal_return_value_fails():
    report = check_function("def f():\n    return (x for x in [])\n", "f", [_case("f()", "[]")])
    [result] = report.results
    assert result.status == "failed"
    assert result.message.startswith("the function's result is not a plain literal: <generator")


def test_a_reply_over_one_mebibyte_fails_and_the_next_test_runs():
    code = "def f(n):\n    return 'x' * n\n"
    report = check_function(code, "f", [_case("f(2_000_000)", "''"), _case("f(1)", "'x'")])
    assert [r.status for r in report.results] == ["failed", "passed"]
    assert "larger than 1 MiB" in report.results[0].message


def test_calls_may_use_other_functions_of_the_candidate():
    code = "def double(x):\n    return 2 * x\ndef f(x):\n    return x + 1\n"
    report = check_function(code, "f", [_case("f(double(3)) + len([1])", "8")])
    assert report.passed == 1


def test_validate_many_returns_reports_in_job_order():
    answers = [0, 1, 2, 3, 4, 5]
    jobs = [
        partial(check_function, f"def f():\n    return {a}\n", "f", [_case("f()", str(a % 2))])
        for a in answers
    ]
    reports = validate_many(jobs, width=3)
    assert [r.passed for r in reports] == [a < 2 for a in answers]
