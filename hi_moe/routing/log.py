"""SQLite log of routing decisions and, once settled, whether the chosen specialists passed."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS routing (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    thread_id TEXT,
    subgoal_id INTEGER NOT NULL,
    task TEXT NOT NULL,
    mode TEXT NOT NULL,
    scores TEXT NOT NULL,
    chosen TEXT NOT NULL,
    outcome TEXT
)
"""


@dataclass(frozen=True)
class RoutingDecision:
    id: int
    thread_id: str | None
    subgoal_id: int
    task: str
    mode: str
    scores: dict[str, float]
    chosen: list[str]
    outcome: dict[str, bool] | None


class RoutingLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._conn.execute(SCHEMA)
        self._conn.commit()

    def record(
        self,
        thread_id: str | None,
        subgoal_id: int,
        task: str,
        mode: str,
        scores: dict[str, float],
        chosen: list[str],
    ) -> int:
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO routing (ts, thread_id, subgoal_id, task, mode, scores, chosen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (time.time(), thread_id, subgoal_id, task, mode, json.dumps(scores),
                 json.dumps(chosen)),
            )  # fmt: skip
            self._conn.commit()
            row_id = cursor.lastrowid
            assert row_id is not None  # set by the INSERT
            return row_id

    def record_outcome(self, decision_id: int, passed: dict[str, bool]) -> None:
        """Which of the chosen specialists passed their visible tests."""
        with self._lock:
            self._conn.execute(
                "UPDATE routing SET outcome = ? WHERE id = ?", (json.dumps(passed), decision_id)
            )
            self._conn.commit()

    def decisions(self) -> list[RoutingDecision]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, thread_id, subgoal_id, task, mode, scores, chosen, outcome"
                " FROM routing ORDER BY id"
            ).fetchall()
        return [
            RoutingDecision(
                r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]),
                json.loads(r[7]) if r[7] else None,
            )
            for r in rows
        ]  # fmt: skip
