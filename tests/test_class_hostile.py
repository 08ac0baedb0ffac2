"""Hostile candidate classes: whatever they do in the sandboxed child (patching unittest, exiting,
printing a fake success, answering with an object equal to everything, killing processes,
looping, flooding, exhausting memory, writing outside the work dir or planting links in it), the
trusted test process computes the verdict, the report fails with a reason, and grading returns.
An honest but wrong class fails exactly the test classes of its wrong method."""

import re
import uuid
from pathlib import Path

import pytest

from hi_moe.sandbox import class_checks
from hi_moe.sandbox.class_checks import grade_class
from hi_moe.sandbox.isolation import strongest

REPO = Path(__file__).resolve().parent.parent
KIND = strongest()
needs_bubblewrap = pytest.mark.skipif(
    KIND != "bubblewrap", reason=f"only bubblewrap hides host files (isolation here: {KIND})"
)

COUNTER = """
import json


class Counter:
    def __init__(self, start=0):
        self.value = start
        self.history = []

    def add(self, n):
        self.value += n
        self.history.append(n)
        return self.value

    def copy(self):
        return Counter(self.value)

    def save(self, path):
        with open(path, "w") as file:
            json.dump({"value": self.value}, file)
        return path

    def load(self, path):
        with open(path) as file:
            self.value = json.load(file)["value"]
        return self.value
"""
TESTS = """
import json
import unittest


class CounterTestAdd(unittest.TestCase):
    def setUp(self):
        self.counter = Counter()

    def test_add(self):
        self.assertEqual(self.counter.add(2), 2)
        self.assertEqual(self.counter.add(3), 5)
        self.assertEqual(self.counter.history, [2, 3])

    def test_add_negative(self):
        self.assertEqual(self.counter.add(-1), -1)


class CounterTestCopy(unittest.TestCase):
    def test_copy(self):
        counter = Counter(4)
        copy = counter.copy()
        self.assertEqual(copy.value, 4)
        self.assertEqual(copy.history, [])
        self.assertIsNot(copy, counter)
        copy.add(1)
        self.assertEqual(counter.value, 4)


class CounterTestFiles(unittest.TestCase):
    def test_save(self):
        Counter(7).save("counter.json")
        with open("counter.json") as file:
            self.assertEqual(json.load(file), {"value": 7})

    def test_load(self):
        with open("start.json", "w") as file:
            json.dump({"value": 9}, file)
        self.assertEqual(Counter().load("start.json"), 9)
"""
CLASSES = ["CounterTestAdd", "CounterTestCopy", "CounterTestFiles"]
USING_ADD = ["CounterTestAdd", "CounterTestCopy"]
"""The test classes that call `add`: hostile code put in it fails them (and only them)."""


def grade(code: str, timeout_s: float = 12.0):
    return grade_class(code, "Counter", "", TESTS, CLASSES, timeout_s)


def failing(report) -> dict[str, str]:
    return {name: r.detail for name, r in report.results.items() if not r.passed}


@pytest.fixture(autouse=True)
def honest_class_still_passes():
    """After each hostile class, the honest one still passes."""
    yield
    report = grade(COUNTER)
    assert report.passed, failing(report)


def test_the_honest_class_passes_and_shares_files_with_the_tests():
    report = grade(COUNTER)
    assert report.passed and report.ran_ok, failing(report)
    assert report.results["CounterTestAdd"].tests_total == 2


def test_a_wrong_but_honest_class_fails_only_the_right_test_class():
    wrong = COUNTER.replace("return Counter(self.value)", "return Counter(self.value + 1)")
    report = grade(wrong)
    assert list(failing(report)) == ["CounterTestCopy"]
    assert "AssertionError: 5 != 4" in report.results["CounterTestCopy"].detail


PATCH_UNITTEST = """
import unittest
unittest.TestCase.assertEqual = lambda *args, **kwargs: None
unittest.TestCase.run = lambda self, result=None: None
unittest.TestResult.wasSuccessful = lambda self: True
"""
WRONG = COUNTER.replace("self.value += n", "self.value -= n")


@pytest.mark.parametrize(
    "prefix",
    [
        PATCH_UNITTEST,
        "print('Ran 5 tests in 0.001s\\n\\nOK')\nimport sys\nsys.stdout.write('OK\\n')\n",
        "import os\nos.write(1, b'OK\\n' * 100000)\nos.write(2, b'.' * 1000000)\n",
    ],
    ids=["patches-unittest", "prints-ok", "floods-output"],
)
def test_patching_unittest_or_printing_success_changes_nothing(prefix):
    report = grade(prefix + WRONG)
    assert report.ran_ok
    assert list(failing(report)) == ["CounterTestAdd"]
    assert "AssertionError" in report.results["CounterTestAdd"].detail


@pytest.mark.parametrize(
    ("exit_call", "reason"),
    [("sys.exit(0)", "SystemExit"), ("os._exit(0)", "exited (0)")],
)
def test_exiting_at_import_is_a_failure_to_run(exit_call, reason):
    report = grade(f"import os, sys\n{exit_call}\n{COUNTER}")
    assert not report.ran_ok and not report.passed
    assert reason in report.error
    assert set(failing(report)) == set(CLASSES)


@pytest.mark.parametrize(
    ("exit_call", "reason"),
    [
        ("sys.exit(0)", "SystemExit"),
        ("os._exit(0)", r"exited \(0\)"),
        ("os.kill(os.getppid(), 9)", "PermissionError|killed by SIGKILL"),
        ("os.killpg(os.getpgid(0), 9)", "ProcessLookupError|killed by SIGKILL"),
        ("os.kill(-1, 9)", "ProcessLookupError|killed by SIGKILL"),
    ],
)
def test_exiting_or_killing_in_a_method_fails_that_test_class(exit_call, reason):
    code = COUNTER.replace("        self.value += n\n", f"        {exit_call}\n", 1)
    report = grade("import os, sys\n" + code)
    assert report.ran_ok
    assert list(failing(report)) == USING_ADD
    assert re.search(reason, report.results["CounterTestAdd"].detail)


EQUALS_ALL = """
class Anything(int):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = int.__hash__
class Everything(list):
    __eq__, __ne__, __hash__ = Anything.__eq__, Anything.__ne__, object.__hash__
"""


def test_an_answer_equal_to_everything_is_not_equal_to_the_expected_value():
    """A number (add's result) and an object (copy's history) whose __eq__ says yes to all."""
    code = EQUALS_ALL + COUNTER.replace("return self.value\n", "return Anything(0)\n", 1)
    code = code.replace(
        "return Counter(self.value)",
        "twin = Counter(self.value)\n        twin.history = Everything([1])\n        return twin",
    )
    report = grade(code)
    assert set(failing(report)) == {"CounterTestAdd", "CounterTestCopy"}
    assert "AssertionError" in report.results["CounterTestAdd"].detail
    assert "AssertionError" in report.results["CounterTestCopy"].detail


def test_an_endless_loop_times_out_its_test_class_and_the_next_one_starts_afresh():
    code = COUNTER.replace("        self.value += n\n", "        while True:\n            pass\n")
    report = grade(code, timeout_s=6.0)
    assert list(failing(report)) == USING_ADD
    assert "timed out" in report.results["CounterTestAdd"].detail


def test_an_endless_loop_at_import_is_a_failure_to_run():
    report = grade("while True:\n    pass\n" + COUNTER, timeout_s=3.0)
    assert not report.ran_ok
    assert "timed out" in report.error


def test_a_memory_bomb_is_a_memory_error():
    code = COUNTER.replace("        self.value += n\n", "        hog = bytearray(1 << 34)\n")
    report = grade(code)
    assert list(failing(report)) == USING_ADD
    assert "MemoryError" in report.results["CounterTestAdd"].detail


def test_a_trusted_test_that_never_ends_is_stopped():
    """A loop in the trusted test code that the candidate drives (each call answers at once)
    ends when the test class's time is up."""
    tests = TESTS.replace(
        "        self.assertEqual(self.counter.add(-1), -1)\n",
        "        while self.counter.add(1) != -1:\n            pass\n",
    )
    report = grade_class(COUNTER, "Counter", "", tests, CLASSES, 6.0)
    assert list(failing(report)) == ["CounterTestAdd"]
    assert "timed out" in report.results["CounterTestAdd"].detail


@needs_bubblewrap
def test_writes_outside_the_work_dir_fail_and_leave_no_trace():
    outside_tmp = Path("/tmp") / f"hi-moe-escape-{uuid.uuid4().hex}"
    in_repo = REPO / f"hi-moe-escape-{uuid.uuid4().hex}"
    writes = (
        f"        open({str(outside_tmp)!r}, 'w').write('escaped')\n"
        f"        open({str(in_repo)!r}, 'w').write('escaped')\n"
    )
    code = COUNTER.replace("        self.value += n\n", writes + "        self.value += n\n")
    report = grade(code)
    assert list(failing(report)) == USING_ADD
    assert re.search("No such file|Permission denied", report.results["CounterTestAdd"].detail)
    assert not outside_tmp.exists()
    assert not in_repo.exists()


def test_links_planted_in_the_shared_work_dir_are_refused(tmp_path):
    """A symlink (or hard link) where the trusted tests will write would send their writes (as
    root, here) anywhere: the child cannot create one."""
    victim = tmp_path / "victim.json"
    victim.write_text("keep me")
    plant = (
        "        import os\n"
        "        refused = []\n"
        "        for link in (os.symlink, os.link, lambda *_: os.mkfifo('start.json')):\n"
        "            try:\n"
        f"                link({str(victim)!r}, 'start.json')\n"
        "            except OSError as error:\n"
        "                refused.append(error.errno)\n"
        "        self.value += n\n"
        "        self.history.append(refused)\n"
    )
    code = COUNTER.replace("        self.value += n\n        self.history.append(n)\n", plant)
    tests = TESTS.replace(
        "        self.assertEqual(self.counter.add(-1), -1)\n",
        "        self.counter.add(0)\n"
        "        self.assertEqual(self.counter.history, [[1, 1, 1]])\n"
        "        with open('start.json', 'w') as file:\n"
        "            file.write('overwritten')\n",
    )
    report = grade_class(code, "Counter", "", tests, ["CounterTestAdd"], 12.0)
    assert report.results["CounterTestAdd"].tests_passed == 1, failing(report)  # EPERM x3
    assert victim.read_text() == "keep me"


def test_a_hung_test_process_is_stopped_and_the_next_test_class_runs(monkeypatch):
    """Trusted code stuck without calling the child (here a plain loop in a test) is stopped by
    the hard limit on the test process; the next test class gets a fresh one."""
    monkeypatch.setattr(class_checks, "RUNNER_GRACE_S", 1.0)
    tests = TESTS.replace(
        "        self.assertEqual(self.counter.add(-1), -1)\n",
        "        while True:\n            pass\n",
    )
    report = grade_class(COUNTER, "Counter", "", tests, CLASSES, 6.0)
    assert list(failing(report)) == ["CounterTestAdd"]
    assert "the test process was stopped" in report.results["CounterTestAdd"].detail
