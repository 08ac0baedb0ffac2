"""Crash safety: kill a solve with SIGKILL mid-run, resume it, and no finished step reruns."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

HI_MOE = [sys.executable, "-m", "hi_moe.cli"]
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


@pytest.mark.parametrize("kill_after_calls", [1, 2])
def test_killed_run_resumes_without_repeating_finished_calls(tmp_path, kill_after_calls):
    home, thread = tmp_path / "home", f"kill-{kill_after_calls}"
    solve = subprocess.Popen(
        [*HI_MOE, "solve", "--mock", "--problem", "2", "--thread", thread,
         "--mock-latency", str(LATENCY_S), "--home", str(home), "--quiet"],
        env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(logged_calls(home, thread)) < kill_after_calls:
        assert solve.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)
    time.sleep(LATENCY_S / 2)  # inside the next call: the finished step is checkpointed
    solve.send_signal(signal.SIGKILL)
    solve.wait()
    before = logged_calls(home, thread)
    assert len(before) == kill_after_calls

    resumed = subprocess.run(
        [*HI_MOE, "resume", thread, "--home", str(home)],
        env=env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming" in resumed.stdout and "solved" in resumed.stdout
    after = logged_calls(home, thread)
    assert after[: len(before)] == before
    assert after == ["architect", "dispatcher", "specialist"]

    again = subprocess.run(
        [*HI_MOE, "resume", thread, "--home", str(home)],
        env=env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0 and "already finished" in again.stdout
    assert logged_calls(home, thread) == after
