"""Chaos: the scripted model behind a faulty endpoint, where a seeded 20% of requests fail in
every way a loaded server fails (5xx, 429, resets, timeouts, slow, cut and malformed replies).

`solve --mock --all` finishes every problem with the hidden results of a clean run: faults are
retried, a problem whose retries run out is interrupted and the same --run-id resumes it, and
a run killed with SIGKILL resumes to the same result. Timeouts and retries are short (settings).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hi_moe.errors import EXIT_INCOMPLETE
from hi_moe.llm.fake.endpoint import FAULT_KINDS

HI_MOE = [sys.executable, "-m", "hi_moe.cli.main"]
SEED = "2"
FAULTY = ["--mock-faults", "0.2", "--mock-seed", SEED]
SETTINGS = {
    "HI_MOE_REQUEST_TIMEOUT_S": "0.5",  # a timeout fault costs this long
    "HI_MOE_ENDPOINT_BACKOFF_S": "0.01",
    "HI_MOE_ENDPOINT_RETRIES": "1",  # few enough that some problems are interrupted
    "HI_MOE_DIRECT_FIRST": "0",  # every tier's calls, enough of them for every fault kind
    "LANGSMITH_TRACING": "false",
}
MAX_RUNS = 8


def env() -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HI_MOE_")}
    return {**clean, **SETTINGS}


def solve_all(home: Path, run_id: str, *options: str) -> list[str]:
    return [*HI_MOE, "solve", "--mock", "--all", "--mock-wrong-tries", "1", "--quiet",
            "--home", str(home), "--run-id", run_id, *options]  # fmt: skip


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env(), capture_output=True, text=True, timeout=600)


def run_until_finished(command: list[str]) -> list[subprocess.CompletedProcess]:
    """The command, rerun with its run id while it exits with unfinished problems."""
    runs = [run(command)]
    while runs[-1].returncode == EXIT_INCOMPLETE and len(runs) < MAX_RUNS:
        runs.append(run(command))
    last = runs[-1]
    assert last.returncode == 0, last.stdout + last.stderr
    return runs


def hidden_results(home: Path, run_id: str) -> dict[str, tuple[bool, str]]:
    """Problem -> (hidden tests passed, solution) from the batch JSON."""
    rows = json.loads((home / "results" / f"batch-{run_id}.json").read_text())
    return {r["problem_id"]: (r["hidden"]["passed"], r["solution"]) for r in rows}


def completed_replay_keys(home: Path) -> list[str]:
    with sqlite3.connect(home / "calls.sqlite") as conn:
        rows = conn.execute("SELECT replay_key FROM calls WHERE ok = 1 AND replay_key IS NOT NULL")
        return [row[0] for row in rows]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, tuple[bool, str]]:
    home = tmp_path_factory.mktemp("clean")
    done = run(solve_all(home, "clean"))
    assert done.returncode == 0, done.stdout + done.stderr
    results = hidden_results(home, "clean")
    assert len(results) == 25 and all(passed for passed, _ in results.values())
    return results


def test_chaos_faulty_endpoint_batch_finishes_with_the_clean_hidden_results(clean, tmp_path):
    home = tmp_path / "home"
    command = solve_all(home, "chaos", *FAULTY)
    first = run(command)
    [injected] = [line for line in first.stdout.splitlines() if "mock faults injected" in line]
    assert {kind for kind in FAULT_KINDS if f"{kind} " in injected} == set(FAULT_KINDS)
    gave_up = [line for line in first.stderr.splitlines() if line.startswith("gave up on")]
    assert gave_up and first.returncode == EXIT_INCOMPLETE, first.stdout + first.stderr
    for line in gave_up:
        thread = line.split(" in thread ")[1].split(":")[0]
        assert f"`hi-moe resume {thread}` keeps its work" in line
    assert "--run-id chaos resumes them" in first.stderr
    first_rows = json.loads((home / "results" / "batch-chaos.json").read_text())
    interrupted = [r for r in first_rows if r["status"] == "interrupted"]
    assert len(first_rows) == 25 and len(interrupted) == len(gave_up)
    run_until_finished(command)
    assert hidden_results(home, "chaos") == clean
    keys = completed_replay_keys(home)
    assert len(keys) == len(set(keys))  # resuming never repeated a completed call


def test_chaos_kill_9_during_a_faulty_run_resumes_to_the_same_result(clean, tmp_path):
    home = tmp_path / "home"
    command = solve_all(home, "killed", *FAULTY)
    solving = subprocess.Popen(
        [*command, "--mock-latency", "0.05"], env=env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    results = home / "results"
    while not results.is_dir() or len(list(results.glob("*.json"))) < 8:
        assert solving.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    solving.send_signal(signal.SIGKILL)
    solving.wait()
    run_until_finished(command)
    assert hidden_results(home, "killed") == clean
    keys = completed_replay_keys(home)
    assert len(keys) == len(set(keys))
