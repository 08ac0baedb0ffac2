"""Hostile candidates: each is contained, reported as failed, error or timeout with a clear reason,
and the harness goes on with the next candidate. They run under the strongest isolation available
here; what only bubblewrap (host files) or a network namespace can stop is skipped without it."""

import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from graph.state import TestCase
from hi_moe.problems.datasets import get_problem
from hi_moe.problems.grading import grade
from hi_moe.sandbox.checks import check_function, run_check, run_program
from hi_moe.sandbox.isolation import strongest

REPO = Path(__file__).resolve().parent.parent
KIND = strongest()
needs_bubblewrap = pytest.mark.skipif(
    KIND != "bubblewrap", reason=f"only bubblewrap hides host files (isolation here: {KIND})"
)
needs_namespaces = pytest.mark.skipif(
    KIND == "none", reason="no network or PID namespace without bubblewrap or unshare"
)

ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = [TestCase(call="add(1, 2)", expected="3"), TestCase(call="add(-1, 1)", expected="0")]


@pytest.fixture(autouse=True)
def harness_goes_on():
    """After each hostile candidate, an honest one still passes."""
    yield
    report = check_function(ADD, "add", ADD_TESTS)
    assert report.passed == 2, report


BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"


def test_fork_bomb_is_stopped():
    report = check_function(BOMB + ADD, "add", ADD_TESTS, timeout_s=1.0)
    assert not report.ran_ok
    assert "timed out" in report.error


@needs_namespaces
def test_fork_bomb_processes_are_gone_when_the_check_ends():
    check_function(BOMB + ADD, "add", ADD_TESTS, timeout_s=1.0)
    # A fork needs a free process slot of uid 65534: the bomb's processes must be gone (reaped).
    forker = (
        "import os\ndef f():\n    pid = os.fork()\n    if pid == 0:\n        os._exit(7)\n"
        "    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])\n"
    )
    assert check_function(forker, "f", [TestCase(call="f()", expected="7")]).passed == 1


def test_memory_bomb_is_a_memory_error():
    code = "def add(a, b):\n    hog = []\n    while True:\n        hog.append(bytes(1 << 26))\n"
    report = check_function(code, "add", ADD_TESTS)
    assert [r.status for r in report.results] == ["error", "error"]
    assert report.results[0].message.startswith("MemoryError")


def test_the_child_is_the_first_choice_of_the_out_of_memory_killer():
    report = run_program("print(open('/proc/self/oom_score_adj').read())")
    assert report.stdout.strip() == "1000"


def test_infinite_loops_time_out_test_by_test():
    code = "def add(a, b):\n    while True:\n        pass\n"
    report = check_function(code, "add", ADD_TESTS, timeout_s=1.0)
    assert report.ran_ok
    assert [r.status for r in report.results] == ["timeout", "timeout"]


@pytest.mark.parametrize(
    "printer",
    ["print('x' * 1_000_000)", "os.write(1, b'x' * 1_000_000)", "os.write(2, b'x' * 1_000_000)"],
)
def test_gigabytes_of_output_are_bounded(printer):
    report = run_program(f"import os\nfor _ in range(4000):\n    {printer}\n", timeout_s=2.0)
    assert report.ran_ok or "timed out" in report.error
    assert len(report.stdout) <= 4000


def test_program_output_is_capped_to_its_tail():
    report = run_program("for i in range(200_000):\n    print(i)\n")
    assert report.ran_ok, report.error
    assert len(report.stdout) <= 4000
    assert report.stdout.endswith("199999\n")


@needs_bubblewrap
def test_files_outside_the_work_dir_cannot_be_written_or_deleted(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    outside_tmp = Path("/tmp") / f"hi-moe-escape-{uuid.uuid4().hex}"
    in_repo = REPO / f"hi-moe-escape-{uuid.uuid4().hex}"
    code = (
        "import os, shutil\n"
        "def add(a, b):\n"
        f"    for path in ({str(outside_tmp)!r}, {str(in_repo)!r}):\n"
        "        try:\n"
        "            open(path, 'w').write('escaped')\n"
        "        except OSError:\n"
        "            pass\n"
        f"    shutil.rmtree({str(tmp_path)!r}, ignore_errors=True)\n"
        "    open('inside.txt', 'w').write('fine')\n"
        "    return open('inside.txt').read()\n"
    )
    report = check_function(code, "add", [TestCase(call="add(1, 2)", expected="'fine'")])
    assert report.passed == 1, report
    assert not outside_tmp.exists()
    assert not in_repo.exists()
    assert victim.read_text() == "keep me"


@pytest.fixture
def home_secret():
    """A secret file in a new directory under the real home, like ~/.ssh/id_rsa."""
    folder = Path.home() / f".hi_moe_probe_{uuid.uuid4().hex}"
    folder.mkdir(mode=0o755)
    secret = folder / "id_rsa"
    secret.write_text("PRIVATE-KEY-probe")
    secret.chmod(0o644)
    yield secret
    secret.unlink()
    folder.rmdir()


@needs_bubblewrap
def test_home_directory_secrets_are_invisible(home_secret):
    paths = (str(home_secret), str(Path.home() / ".ssh"))
    code = (
        "import os\n"
        f"print(*(os.path.exists(path) for path in {paths!r}))\n"
        f"print(open({paths[0]!r}).read())\n"
    )
    report = run_program(code)
    assert not report.ran_ok
    assert report.stdout == "False False\n"
    assert "FileNotFoundError" in report.error
    assert "PRIVATE-KEY-probe" not in report.stdout + report.error


@needs_bubblewrap
def test_checkpoint_database_is_invisible(tmp_path):
    database = tmp_path / ".hi_moe" / "checkpoints.sqlite"
    database.parent.mkdir()
    with sqlite3.connect(database) as connection:
        connection.execute("create table checkpoints (thread text)")
        connection.execute("insert into checkpoints values ('thread-secret-probe')")
    code = (
        "import os, sqlite3\n"
        f"print(os.path.exists({str(database)!r}), os.path.exists({str(REPO)!r}))\n"
        f"rows = sqlite3.connect('file:{database}?mode=ro', uri=True).execute("
        "'select * from checkpoints').fetchall()\n"
        "print(rows)\n"
    )
    report = run_program(code)
    assert not report.ran_ok
    assert report.stdout == "False False\n"
    assert "unable to open database file" in report.error
    assert "thread-secret-probe" not in report.stdout + report.error


@needs_namespaces
def test_sockets_cannot_reach_the_host():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print('blocked', type(exc).__name__)\n"
        )
        report = run_program(code)
        with pytest.raises(BlockingIOError):
            server.accept()
    assert report.ran_ok, report.error
    assert report.stdout.startswith("blocked")


def test_environment_secrets_do_not_reach_the_child(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-probe-secret")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-probe-secret")
    code = (
        "import os\n"
        "print(dict(os.environ))\n"
        "for path in ('/proc/self/environ', f'/proc/{os.getppid()}/environ', '/proc/1/environ'):\n"
        "    try:\n"
        "        print(open(path, 'rb').read())\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
    )
    report = run_program(code)
    assert report.ran_ok, report.error
    assert "probe-secret" not in report.stdout
    assert "OPENAI_API_KEY" not in report.stdout


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def add(a, b):\n    return add(a, b)\n", "RecursionError"),
        (
            # Recursion through a C slot: the C stack overflows.
            "import sys\nsys.setrecursionlimit(10**8)\n"
            "def add(a, b):\n    return add.__call__(a, b)\n",
            "the program was killed by SIGSEGV during the call",
        ),
    ],
    ids=["python-limit", "c-stack-overflow"],
)
def test_recursion_bomb_is_an_error(code, message):
    report = check_function(code, "add", ADD_TESTS)
    assert [r.status for r in report.results] == ["error", "error"]
    assert all(message in r.message for r in report.results)


def test_code_that_does_not_parse_is_not_run():
    report = check_function("def add(a, b) return a + b\n", "add", ADD_TESTS)
    assert not report.ran_ok
    assert report.error.startswith("SyntaxError")


def test_wrong_function_name_is_reported():
    report = check_function("def plus(a, b):\n    return a + b\n", "add", ADD_TESTS)
    assert not report.ran_ok
    assert report.error == "the code does not define add()"


def test_sys_exit_in_a_humaneval_check_is_a_failure():
    check = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
    report = run_check("import sys\ndef add(a, b):\n    sys.exit(0)\n", check, "add")
    assert not report.ran_ok
    assert report.error.startswith("SystemExit: 0")


def test_os_exit_mid_suite_is_an_error_and_later_tests_still_run():
    code = "import os\ndef add(a, b):\n    if a == 1:\n        os._exit(0)\n    return a + b\n"
    report = check_function(code, "add", ADD_TESTS)
    assert [r.status for r in report.results] == ["error", "passed"]
    assert "the program exited (0) during the call" in report.results[0].message


def test_fake_replies_on_the_reply_channel_are_not_passes():
    fake = b"{'ok': True, 'value': '3'}\n" * 4
    code = (
        "import os\n"
        "def add(a, b):\n"
        "    for fd in range(3, 20):\n"
        "        try:\n"
        f"            os.write(fd, {fake!r})\n"
        "        except OSError:\n"
        "            pass\n"
        "    return -1\n"
    )
    tests = [TestCase(call="add(10, 20)", expected="30"), TestCase(call="add(2, 2)", expected="4")]
    report = check_function(code, "add", tests)
    assert report.passed == 0
    assert {r.status for r in report.results} <= {"failed", "error", "timeout"}


def test_eq_and_repr_tricks_are_failures():
    code = (
        "class Anything(int):\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    __hash__ = int.__hash__\n"
        "class Liar:\n"
        "    def __repr__(self):\n"
        "        raise RuntimeError('no repr')\n"
        "def add(a, b):\n"
        "    return Anything(0) if a == 1 else Liar()\n"
    )
    report = check_function(code, "add", ADD_TESTS)
    assert [r.status for r in report.results] == ["failed", "error"]
    assert report.results[0].message == "expected 3, got 0"


def test_monkeypatched_builtins_and_assert_do_not_reach_the_verdict():
    code = (
        "import builtins\n"
        "builtins.AssertionError = type('Never', (Exception,), {})\n"
        "builtins.isinstance = lambda *args: True\n"
        "builtins.type = lambda *args: int\n"
        "def add(a, b):\n"
        "    return 0\n"
    )
    check = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
    report = run_check(code, check, "add")
    assert not report.ran_ok
    assert report.error.startswith("AssertionError")
    assert check_function(code, "add", ADD_TESTS).passed == 1  # only add(-1, 1) == 0 holds


def test_redefining_the_problems_helpers_does_not_fool_a_humaneval_check():
    problem = get_problem("HumanEval/38", "humaneval")
    cheat = "def encode_cyclic(s):\n    return s\ndef decode_cyclic(s):\n    return s\n"
    result = grade(problem, cheat)
    assert not result.passed
    assert result.detail.startswith("AssertionError")
    assert grade(problem, problem.reference).passed


@pytest.fixture
def bystander():
    """A process of ours the candidate tries to kill."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_killing_the_parent_or_our_processes_fails(bystander):
    kills = [
        "os.kill(os.getppid(), 9)",
        f"os.kill({os.getpid()}, 9)",
        f"os.kill({bystander.pid}, 9)",
        "os.killpg(os.getpgid(0), 9)",
    ]
    if KIND == "bubblewrap":  # elsewhere this would also hit unrelated processes of uid 65534
        kills.append("os.kill(-1, 9)")
    body = "".join(f"    try:\n        {k}\n    except OSError:\n        pass\n" for k in kills)
    code = f"import os\ndef add(a, b):\n{body}    return -1\n"
    report = check_function(code, "add", ADD_TESTS)
    assert report.passed == 0
    assert {r.status for r in report.results} <= {"failed", "error"}
    assert bystander.poll() is None
