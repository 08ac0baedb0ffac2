"""Which runs exist, what they were asked, and how they ended (a small SQLite table).

Checkpoints hold the state; this holds what is needed to resume a thread the same way, and
which batch run (`run_id`) a thread belongs to, so a later run with that id can resume it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hi_moe.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    thread_id TEXT PRIMARY KEY,
    problem_id TEXT NOT NULL,
    dataset TEXT NOT NULL,
    mock INTEGER NOT NULL,
    mock_wrong_tries INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    settings TEXT NOT NULL,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    result_path TEXT,
    run_id TEXT
)
"""
ADDED_COLUMNS = {"run_id": "TEXT"}
"""Columns newer than the first schema, added to an older registry on open."""
COLUMNS = (
    "thread_id, problem_id, dataset, mock, mock_wrong_tries, checkpoint, settings, created,"
    " status, result_path, run_id"
)


@dataclass
class RunRecord:
    thread_id: str
    problem_id: str
    dataset: str
    mock: bool
    mock_wrong_tries: int
    checkpoint: str
    settings: dict
    created: float
    status: str = "running"
    result_path: str | None = None
    run_id: str | None = None


class RunRegistry:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=30)
            self._conn.execute(SCHEMA)
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
            for column, kind in ADDED_COLUMNS.items():
                if column not in have:
                    self._conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
            self._conn.commit()
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"cannot use the run registry {path}: {exc}") from exc

    def add(self, record: RunRecord) -> None:
        row = asdict(record)
        row["settings"] = json.dumps(record.settings)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._conn.execute(
            f"INSERT OR REPLACE INTO runs ({columns}) VALUES ({marks})", tuple(row.values())
        )
        self._conn.commit()

    def finish(self, thread_id: str, status: str, result_path: str | None) -> None:
        self._conn.execute(
            "UPDATE runs SET status = ?, result_path = ? WHERE thread_id = ?",
            (status, result_path, thread_id),
        )
        self._conn.commit()

    def get(self, thread_id: str) -> RunRecord | None:
        found = self._select("WHERE thread_id = ?", (thread_id,))
        return found[0] if found else None

    def all(self) -> list[RunRecord]:
        return self._select("", ())

    def for_run(self, run_id: str) -> list[RunRecord]:
        """The threads of one batch run, oldest first."""
        return self._select("WHERE run_id = ?", (run_id,))

    def _select(self, where: str, params: tuple) -> list[RunRecord]:
        rows = self._conn.execute(
            f"SELECT {COLUMNS} FROM runs {where} ORDER BY created", params
        ).fetchall()
        return [
            RunRecord(r[0], r[1], r[2], bool(r[3]), r[4], r[5], json.loads(r[6]), *r[7:])
            for r in rows
        ]


def new_record(
    thread_id: str,
    problem_id: str,
    dataset: str,
    checkpoint: str,
    settings: dict,
    mock: bool = False,
    mock_wrong_tries: int = 0,
    run_id: str | None = None,
) -> RunRecord:
    return RunRecord(
        thread_id,
        problem_id,
        dataset,
        mock,
        mock_wrong_tries,
        checkpoint,
        settings,
        time.time(),
        run_id=run_id,
    )
