"""SQLite log of every LLM call: who asked, which model, tokens, latency, outcome."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    thread_id TEXT,
    tier TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT
)
"""


@dataclass(frozen=True)
class CallRecord:
    thread_id: str | None
    tier: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    ok: bool
    error: str | None = None


class CallLog:
    """Append-only call log shared by every node of a process (thread-safe)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(SCHEMA)
        self._conn.commit()

    def record(self, call: CallRecord) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO calls (ts, thread_id, tier, model, prompt_tokens, completion_tokens,"
                " latency_s, ok, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    call.thread_id,
                    call.tier,
                    call.model,
                    call.prompt_tokens,
                    call.completion_tokens,
                    call.latency_s,
                    int(call.ok),
                    call.error,
                ),
            )
            self._conn.commit()

    def for_thread(self, thread_id: str) -> list[CallRecord]:
        return self._select("WHERE thread_id = ?", (thread_id,))

    def all(self) -> list[CallRecord]:
        return self._select("", ())

    def _select(self, where: str, params: tuple) -> list[CallRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT thread_id, tier, model, prompt_tokens, completion_tokens, latency_s, ok,"
                f" error FROM calls {where} ORDER BY id",
                params,
            ).fetchall()
        return [CallRecord(*row[:6], bool(row[6]), row[7]) for row in rows]
