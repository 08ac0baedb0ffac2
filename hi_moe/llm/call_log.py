"""SQLite log of every LLM call: who asked, which model, the prompt, tokens, latency, outcome.

A completed call also keeps its reply under a replay key (thread, graph task, position in the
task, prompt hash). A node re-run after a crash finds its earlier replies there, so no
completed call is ever made twice. Each call also keeps a digest of its whole request (model,
sampling settings, messages): a greedy request another system of the same comparison already
made is answered from its reply (`find_shared`), so both systems start from the very same reply.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
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
    error TEXT,
    replay_key TEXT,
    reply TEXT,
    prompt TEXT,
    request TEXT
)
"""
ADDED_COLUMNS = {"replay_key": "TEXT", "reply": "TEXT", "prompt": "TEXT", "request": "TEXT"}
"""Columns newer than the first schema, added to an older log on open."""


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
    replay_key: str | None = None
    reply: str | None = None
    prompt: str | None = None
    """The messages sent, one `[role]` header before each (see `client.transcript`)."""
    request: str | None = None
    """A digest of the whole request (see `client.request_digest`)."""


class CallLog:
    """Append-only call log shared by every node of a process (thread-safe)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(SCHEMA)
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(calls)")}
        for column, kind in ADDED_COLUMNS.items():
            if column not in have:
                self._conn.execute(f"ALTER TABLE calls ADD COLUMN {column} {kind}")
        self._conn.execute("CREATE INDEX IF NOT EXISTS calls_replay ON calls (replay_key)")
        self._conn.execute("CREATE INDEX IF NOT EXISTS calls_request ON calls (request)")
        self._conn.commit()

    def record(self, call: CallRecord) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO calls (ts, thread_id, tier, model, prompt_tokens, completion_tokens,"
                " latency_s, ok, error, replay_key, reply, prompt, request)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    call.replay_key,
                    call.reply,
                    call.prompt,
                    call.request,
                ),
            )
            self._conn.commit()

    def find_reply(self, replay_key: str) -> CallRecord | None:
        """The completed call recorded under `replay_key`, if any."""
        found = self._select("WHERE replay_key = ? AND ok = 1", (replay_key,))
        return found[0] if found else None

    def find_shared(self, request: str, thread_ids: Sequence[str]) -> CallRecord | None:
        """The first completed call of one of `thread_ids` that made the very same `request`."""
        marks = ", ".join("?" * len(thread_ids))
        found = self._select(
            f"WHERE request = ? AND ok = 1 AND thread_id IN ({marks})", (request, *thread_ids)
        )
        return found[0] if found else None

    def times_made(self, request: str, thread_id: str | None) -> int:
        """How many completed calls of `thread_id` made the very same `request`."""
        with self._lock:
            [(count,)] = self._conn.execute(
                "SELECT COUNT(*) FROM calls WHERE request = ? AND ok = 1 AND thread_id IS ?",
                (request, thread_id),
            ).fetchall()
        return int(count)

    def for_thread(self, thread_id: str) -> list[CallRecord]:
        return self._select("WHERE thread_id = ?", (thread_id,))

    def all(self) -> list[CallRecord]:
        return self._select("", ())

    def _select(self, where: str, params: tuple) -> list[CallRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT thread_id, tier, model, prompt_tokens, completion_tokens, latency_s, ok,"
                f" error, replay_key, reply, prompt, request FROM calls {where} ORDER BY id",
                params,
            ).fetchall()
        return [
            CallRecord(thread, tier, model, sent, received, latency, bool(ok), *rest)
            for thread, tier, model, sent, received, latency, ok, *rest in rows
        ]
