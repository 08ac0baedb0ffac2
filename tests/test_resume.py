"""Crash safety: kill a solve with SIGKILL mid-run, resume it, and no finished step reruns.

The kill lands once a node's checkpoint is written and the next node's LLM call is under way.
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

from graph.builder import build_graph
from graph.checkpoint import open_checkpointer

HI_MOE = [sys.executable, "-m", "hi_moe.cli.main"]
LATENCY_S = 2.0


def logged_calls(home: Path, thread: str) -> list[str]:
    path = home / "calls.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        try:
            rows = conn.execute(
                "SELECT tier FROM calls WHERE thread_id = ? ORDER BY id", (thread,)
            ).fetchall()
        except sqlite3.OperationalError:
            return []
    return [row[0] for row in rows]


def env() -> dict:
    return {**os.environ, "LANGSMITH_TRACING": "false"}


def next_nodes(home: Path, thread: str) -> tuple[str, ...]:
    """The nodes the thread's last checkpoint will run next (empty before the first one)."""
    path = home / "checkpoints.sqlite"
    if not path.exists():
        return ()
    with open_checkpointer(str(path)) as saver:
        return build_graph(saver).get_state({"configurable": {"thread_id": thread}}).next


ALWAYS_PLAN = ["architect", "dispatcher", "specialist"]
PLANNED = ["--always-plan"]
DIRECT_FIRST = ["--direct-first", "--mock-wrong-tries", "1"]
"""Adaptive depth: no plan and no dispatcher call (every specialist is the same embedded model),
a first wrong answer, then its retry."""


@pytest.mark.parametrize(
    ("flags", "kill_before", "finished_calls", "all_calls"),
    [
        (PLANNED, "dispatcher", 1, ALWAYS_PLAN),
        (PLANNED, "specialist", 2, ALWAYS_PLAN),
        (DIRECT_FIRST, "specialist", 1, ["specialist", "specialist"]),
    ],
)
def test_killed_run_resumes_without_repeating_finished_calls(
    tmp_path, flags, kill_before, finished_calls, all_calls
):
    home, thread = tmp_path / "home", f"kill-before-{kill_before}"
    solve = subprocess.Popen(
        [*HI_MOE, "solve", "--mock", "--problem", "2", "--thread", thread,
         "--mock-latency", str(LATENCY_S), "--home", str(home), "--quiet", *flags],
        env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while (
        next_nodes(home, thread) != (kill_before,)
        or len(logged_calls(home, thread)) != finished_calls
    ):
        assert solve.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)
    time.sleep(LATENCY_S / 4)  # inside the next node's LLM call
    solve.send_signal(signal.SIGKILL)
    solve.wait()
    before = logged_calls(home, thread)
    assert len(before) == finished_calls

    resumed = subprocess.run(
        [*HI_MOE, "resume", thread, "--home", str(home)],
        env=env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming" in resumed.stdout and "solved" in resumed.stdout
    after = logged_calls(home, thread)
    assert after[: len(before)] == before
    assert after == all_calls

    again = subprocess.run(
        [*HI_MOE, "resume", thread, "--home", str(home)],
        env=env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0 and "already finished" in again.stdout
    assert logged_calls(home, thread) == after


def test_a_resumed_mock_counts_the_wrong_tries_its_thread_already_made(tmp_path):
    """Killed during the retry after one scripted wrong try, the resumed run answers right at
    once, as the uninterrupted run does (the mock counts the tries from the thread)."""
    home, thread = tmp_path / "home", "wrong-try-then-killed"
    solve = subprocess.Popen(
        [*HI_MOE, "solve", "--mock", "--problem", "2", "--thread", thread,
         "--mock-wrong-tries", "1", "--mock-latency", str(LATENCY_S), "--home", str(home),
         "--quiet", *PLANNED],
        env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (
        next_nodes(home, thread) == ("specialist",)
        and logged_calls(home, thread).count("specialist") == 1
    ):
        assert solve.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)
    time.sleep(LATENCY_S / 4)  # inside the retry's LLM call
    solve.send_signal(signal.SIGKILL)
    solve.wait()

    resumed = subprocess.run(
        [*HI_MOE, "resume", thread, "--home", str(home)],
        env=env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert logged_calls(home, thread) == ["architect", "dispatcher", "specialist", "specialist"]
    result = result_of(home, thread)
    assert result["hidden"]["passed"] and len(result["attempts"]) == 2


PROJECT = "project/text-stats"


def solve_command(home: Path, thread: str, latency_s: float) -> list[str]:
    return [*HI_MOE, "solve", "--mock", "--always-plan", "--problem", PROJECT, "--thread", thread,
            "--mock-latency", str(latency_s), "--home", str(home), "--quiet"]  # fmt: skip


def replay_keys(home: Path, thread: str) -> list[str]:
    with sqlite3.connect(home / "calls.sqlite") as conn:
        rows = conn.execute(
            "SELECT replay_key FROM calls WHERE thread_id = ? ORDER BY id", (thread,)
        ).fetchall()
    return [row[0] for row in rows]


def result_of(home: Path, thread: str) -> dict:
    return json.loads((home / "results" / f"{thread}.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[list[str], dict]:
    home = tmp_path_factory.mktemp("uninterrupted")
    done = subprocess.run(solve_command(home, "whole", 0.0), env=env(), timeout=180)
    assert done.returncode == 0
    return logged_calls(home, "whole"), result_of(home, "whole")


@pytest.mark.parametrize("kill_after_calls", [2, 5, 9])
def test_a_long_task_killed_anywhere_resumes_to_the_same_result(
    tmp_path, uninterrupted, kill_after_calls
):
    home, thread = tmp_path / "home", "project-run"
    solve = subprocess.Popen(
        solve_command(home, thread, 0.3), env=env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(logged_calls(home, thread)) < kill_after_calls:
        assert solve.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)
    solve.send_signal(signal.SIGKILL)
    solve.wait()

    resumed = subprocess.run(
        [*HI_MOE, "resume", thread, "--home", str(home)],
        env=env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    tiers, result = uninterrupted
    assert logged_calls(home, thread) == tiers  # every completed call made exactly once
    keys = replay_keys(home, thread)
    assert len(set(keys)) == len(keys) and None not in keys
    mine = result_of(home, thread)
    assert mine["solution"] == result["solution"]
    assert mine["hidden"] == result["hidden"] and mine["hidden"]["passed"]
    assert mine["total_tokens"] == result["total_tokens"]
