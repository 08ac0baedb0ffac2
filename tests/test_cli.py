"""The `hi-moe` command line on the scripted fake model (`--mock`): runs, results, bad input."""

from __future__ import annotations

import argparse
import glob
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hi_moe.app.runs import context_from_settings
from hi_moe.cli.main import build_parser, main
from hi_moe.llm.fake.endpoint import FakeEndpoint

EXIT_USER_ERROR = 2
CONSOLE_SCRIPT = Path(sys.executable).with_name("hi-moe")
NO_HOME_COMMANDS = {"prepare-gsm8k", "problems"}


@pytest.fixture
def cli(tmp_path, capsys):
    """Run `hi-moe ARGS --home tmp_path` in-process: (exit code, stdout + stderr)."""

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        home = [] if args[0] in NO_HOME_COMMANDS else ["--home", str(tmp_path)]
        code = main([*args, *home])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


def assert_user_error(code: int, out: str, *fragments: str) -> str:
    """One clear `error:` line naming what is wrong, exit 2, no traceback."""
    assert code == EXIT_USER_ERROR, out
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def result_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "results").glob("*.json") if not p.name.startswith("batch-"))


def call_count(home: Path) -> int:
    with sqlite3.connect(home / "calls.sqlite") as conn:
        return conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


def thread_rows(cli) -> list[dict]:
    code, out = cli("threads", "--json")
    assert code == 0, out
    return json.loads(out)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- solving -----------------------------------------------------------------------------------


def test_solve_one_problem_writes_result_lists_thread_and_resume_is_a_no_op(cli, tmp_path):
    code, out = cli("solve", "--mock", "--problem", "0")
    assert code == 0, out
    assert "status solved" in out
    assert "hidden tests pass" in out
    assert "tokens" in out and "architect" in out and "specialist" in out

    [path] = result_files(tmp_path)
    result = json.loads(path.read_text())
    assert result["status"] == "solved"
    assert result["problem_id"] == "builtin/0"
    assert result["hidden"]["passed"] is True
    assert "def reverse_string" in result["solution"]
    assert set(result["tokens"]) == {"specialist"}, "direct first: one plain call, no plan"
    for usage in result["tokens"].values():
        assert usage["calls"] >= 1 and usage["prompt_tokens"] > 0
    assert result["llm_calls"] == sum(u["calls"] for u in result["tokens"].values())
    assert result["attempts"] and result["attempts"][-1]["feedback"] == ""
    assert [d["decision"] for d in result["decisions"]] == ["direct", "done"]
    assert result["version"] == 1
    thread = result["thread_id"]
    assert str(path) in out.replace("\n", "")

    code, out = cli("threads")
    assert code == 0, out
    assert thread in out and "solved" in out

    [row] = thread_rows(cli)
    assert row["thread_id"] == thread
    assert row["problem_id"] == "builtin/0"
    assert row["status"] == "solved"
    assert row["mock"] is True
    assert row["result"] == str(path)

    calls = call_count(tmp_path)
    assert calls == result["llm_calls"]
    before = path.read_bytes()
    code, out = cli("resume", thread)
    assert code == 0, out
    assert "already finished" in out and "solved" in out
    assert call_count(tmp_path) == calls
    assert path.read_bytes() == before


def test_always_plan_sends_every_task_through_the_architect_and_dispatcher(cli, tmp_path):
    code, out = cli("solve", "--mock", "--problem", "0", "--always-plan")
    assert code == 0, out
    [path] = result_files(tmp_path)
    result = json.loads(path.read_text())
    assert set(result["tokens"]) == {"architect", "dispatcher", "specialist"}
    assert [d["decision"] for d in result["decisions"]] == ["plan", "done"]


def test_solve_all_with_limit_writes_a_batch_summary(cli, tmp_path):
    code, out = cli("solve", "--mock", "--all", "--dataset", "math", "--limit", "3")
    assert code == 0, out
    assert "hidden tests passed on 3/3 problems" in out
    [batch] = glob.glob(str(tmp_path / "results" / "batch-*.json"))
    results = json.loads(Path(batch).read_text())
    assert [r["problem_id"] for r in results] == ["math/0", "math/1", "math/2"]
    assert all(r["status"] == "solved" and r["hidden"]["passed"] for r in results)
    assert len(result_files(tmp_path)) == 3
    assert {row["status"] for row in thread_rows(cli)} == {"solved"}


def test_wrong_first_try_is_corrected_with_feedback(cli, tmp_path):
    code, out = cli("solve", "--mock", "--problem", "3", "--mock-wrong-tries", "1")
    assert code == 0, out
    [path] = result_files(tmp_path)
    result = json.loads(path.read_text())
    attempts = [a for a in result["attempts"] if a["subgoal_id"] == 0]
    assert [a["try_index"] for a in attempts] == [0, 1]
    first, second = attempts
    assert first["feedback"].strip()
    assert first["tests_passed"] < first["tests_total"]
    assert second["feedback"] == ""
    assert second["tests_passed"] == second["tests_total"] > 0
    assert result["status"] == "solved" and result["hidden"]["passed"] is True


def test_problems_lists_the_ids_of_a_dataset(cli):
    code, out = cli("problems", "--dataset", "math")
    assert code == 0, out
    ids = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert ids[:3] == ["math/0", "math/1", "math/2"]
    assert all(i.startswith("math/") for i in ids)


def test_help_mentions_subcommands_and_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("solve", "resume", "threads", "prepare-gsm8k", "problems"):
        assert command in out

    with pytest.raises(SystemExit) as exit_info:
        main(["solve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--problem", "--all", "--dataset", "--mock", "--checkpoint", "--endpoint"):
        assert option in out


# --- bad input: one clear error, exit 2, nothing saved is lost --------------------------------


def test_unknown_problem_id(cli):
    code, out = cli("solve", "--mock", "--problem", "999")
    assert_user_error(code, out, "unknown problem '999'", "builtin")
    assert thread_rows(cli) == []


def test_unknown_dataset(cli):
    code, out = cli("solve", "--mock", "--problem", "0", "--dataset", "nope")
    assert_user_error(code, out, "unknown dataset 'nope'")


def test_malformed_dataset_line_names_file_and_line(cli, tmp_path):
    data = tmp_path / "mine.jsonl"
    good = {"id": "mine/0", "kind": "math", "statement": "2+2?", "answer": "4"}
    data.write_text(json.dumps(good) + "\n{not json\n")
    code, out = cli("solve", "--mock", "--all", "--dataset", str(data))
    assert_user_error(code, out, f"{data}:2")


def test_resume_unknown_thread(cli):
    code, out = cli("resume", "no-such-thread")
    assert_user_error(code, out, "unknown thread 'no-such-thread'")


def test_settings_a_run_stored_under_an_old_field_name_still_apply_on_resume():
    settings = {"routines": 0, "max_retries": 1, "no_longer_a_field": True}
    context = context_from_settings(settings)
    assert context.routines_shown == 0 and context.max_retries == 1


def test_unreachable_endpoint_fails_fast(cli, monkeypatch):
    monkeypatch.setenv("HI_MOE_REQUEST_TIMEOUT_S", "2")
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    code, out = cli("solve", "--problem", "0", "--endpoint", url)
    assert time.monotonic() - started < 10
    assert_user_error(code, out, url, "unreachable")


def test_unknown_model_name_is_named(cli):
    served = ["architect", "dispatcher", "python"]
    with FakeEndpoint(served, lambda model, messages, fmt: "{}") as endpoint:
        code, out = cli("solve", "--problem", "0", "--endpoint", endpoint.base_url)
        assert endpoint.requests == []
    line = assert_user_error(code, out, "does not serve model", "monitor", "math")
    assert "python" not in line.split("it serves")[0]


def test_corrupt_checkpoint_file_is_refused_and_untouched(cli, tmp_path):
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(os.urandom(4096))
    before = bad.read_bytes()
    code, out = cli("solve", "--mock", "--problem", "0", "--checkpoint", str(bad))
    assert_user_error(code, out, str(bad), "not a SQLite database")
    assert bad.read_bytes() == before
    assert thread_rows(cli) == []


def test_foreign_sqlite_database_is_refused_and_untouched(cli, tmp_path):
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
        conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    before = foreign.read_bytes()
    code, out = cli("solve", "--mock", "--problem", "0", "--checkpoint", str(foreign))
    assert_user_error(code, out, str(foreign), "another program", "invoices")
    assert foreign.read_bytes() == before


def test_checkpoint_path_that_is_a_directory(cli, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    code, out = cli("solve", "--mock", "--problem", "0", "--checkpoint", str(folder))
    assert_user_error(code, out, str(folder), "directory")


def test_home_that_is_a_file(tmp_path, capsys):
    home = tmp_path / "home"
    home.write_text("mine")
    code = main(["solve", "--mock", "--problem", "0", "--home", str(home)])
    out = capsys.readouterr().out
    assert_user_error(code, out, str(home))
    assert home.read_text() == "mine"


def test_thread_with_all_is_refused(cli):
    code, out = cli("solve", "--mock", "--all", "--thread", "mine")
    assert_user_error(code, out, "--thread")
    assert thread_rows(cli) == []


def test_reusing_an_existing_thread_keeps_its_result(cli, tmp_path):
    code, out = cli("solve", "--mock", "--problem", "0", "--thread", "mine", "--quiet")
    assert code == 0, out
    saved = (tmp_path / "results" / "mine.json").read_bytes()
    code, out = cli("solve", "--mock", "--problem", "1", "--thread", "mine")
    assert_user_error(code, out, "'mine'", "already exists", "resume")
    assert (tmp_path / "results" / "mine.json").read_bytes() == saved
    [row] = thread_rows(cli)
    assert row["problem_id"] == "builtin/0" and row["status"] == "solved"


def test_bad_limit(cli):
    code, out = cli("solve", "--mock", "--all", "--limit", "0")
    assert_user_error(code, out, "--limit")


@pytest.mark.parametrize("option", ["--mock-latency", "--mock-wrong-tries"])
def test_negative_mock_options(cli, option):
    code, out = cli("solve", "--mock", "--problem", "0", option, "-1")
    assert_user_error(code, out, option)


def test_bad_env_var(cli, monkeypatch):
    monkeypatch.setenv("HI_MOE_MAX_RETRIES", "abc")
    code, out = cli("solve", "--mock", "--problem", "0")
    assert_user_error(code, out, "HI_MOE_MAX_RETRIES", "'abc'")


def test_a_negative_count_setting_is_named(cli, monkeypatch):
    monkeypatch.setenv("HI_MOE_WHOLE_FIRST_PARTS", "-1")
    code, out = cli("solve", "--mock", "--problem", "0")
    assert_user_error(code, out, "whole_first_parts", ">= 0")


def test_a_routine_bar_beyond_cosine_distance_is_named(cli, monkeypatch):
    monkeypatch.setenv("HI_MOE_ROUTINE_MAX_DISTANCE", "3")
    code, out = cli("solve", "--mock", "--problem", "0")
    assert_user_error(code, out, "routine_max_distance", "between 0 and 2")


def test_a_renamed_env_var_names_its_new_name(cli, monkeypatch):
    monkeypatch.setenv("HI_MOE_ROUTINES", "0")
    code, out = cli("solve", "--mock", "--problem", "0")
    assert_user_error(code, out, "HI_MOE_ROUTINES was renamed HI_MOE_ROUTINES_SHOWN")


def test_missing_required_choice_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["solve", "--mock"])
    assert exit_info.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "error:" in err and "--problem" in err and "Traceback" not in err


# --- prepare-gsm8k ------------------------------------------------------------------------------

GSM8K_SAMPLE = [
    {
        "question": "A farm has 1,000 hens and buys 234 more. How many hens are there?",
        "answer": "1000 + 234 = <<1000+234=1234>>1234\n#### 1,234",
    },
    {
        "question": "Sam has 5 pens and loses 2. How many pens are left?",
        "answer": "5 - 2 = <<5-2=3>>3\n#### 3",
    },
    {
        "question": "A box holds 12 eggs. How many eggs are in 10 boxes?",
        "answer": "12 * 10 = <<12*10=120>>120 eggs.\n#### 120",
    },
]


def test_prepare_gsm8k_converts_and_the_result_solves(cli, tmp_path):
    source = tmp_path / "gsm8k-sample.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in GSM8K_SAMPLE))
    out_file = tmp_path / "converted.jsonl"
    code, out = cli("prepare-gsm8k", str(source), "--out", str(out_file))
    assert code == 0, out
    assert "wrote 3 problems" in out
    problems = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [p["id"] for p in problems] == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]
    assert [p["answer"] for p in problems] == ["1234", "3", "120"]
    assert all(p["kind"] == "math" for p in problems)
    assert problems[0]["statement"] == GSM8K_SAMPLE[0]["question"]

    code, out = cli("solve", "--mock", "--all", "--dataset", str(out_file))
    assert code == 0, out
    [batch] = glob.glob(str(tmp_path / "results" / "batch-*.json"))
    results = json.loads(Path(batch).read_text())
    assert [r["problem_id"] for r in results] == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]
    assert all(r["hidden"]["passed"] for r in results), results


def test_prepare_gsm8k_bad_line_names_file_and_line(cli, tmp_path):
    source = tmp_path / "gsm8k-bad.jsonl"
    bad = {"question": "How many?", "answer": "no final answer here"}
    source.write_text(json.dumps(GSM8K_SAMPLE[0]) + "\n" + json.dumps(bad) + "\n")
    out_file = tmp_path / "converted.jsonl"
    out_file.write_text("previous contents\n")
    code, out = cli("prepare-gsm8k", str(source), "--out", str(out_file))
    assert_user_error(code, out, f"{source}:2", "####")
    assert out_file.read_text() == "previous contents\n"


# --- the real console script: no traceback on either stream ------------------------------------


def run_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HI_MOE_")}
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "LANGSMITH_TRACING": "false", "COLUMNS": "300", **(env or {})},
    )


def test_console_script_solves_without_traceback(tmp_path):
    proc = run_script("solve", "--mock", "--problem", "0", "--quiet", "--home", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "status solved" in proc.stdout
    assert len(result_files(tmp_path)) == 1


def test_console_script_bad_input_without_traceback(tmp_path):
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(os.urandom(2048))
    before = bad.read_bytes()
    proc = run_script(
        "solve", "--mock", "--problem", "0", "--checkpoint", str(bad), "--home", str(tmp_path)
    )
    assert proc.returncode == EXIT_USER_ERROR
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith("error:") and str(bad) in proc.stdout
    assert bad.read_bytes() == before

    bad_env = {"HI_MOE_MAX_RETRIES": "x"}
    proc = run_script("solve", "--mock", "--problem", "0", "--home", str(tmp_path), env=bad_env)
    assert proc.returncode == EXIT_USER_ERROR
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "HI_MOE_MAX_RETRIES" in proc.stdout


def test_every_option_of_every_command_has_a_help_text():
    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    missing = [
        f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
        for parser in parsers(build_parser())
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert missing == []
