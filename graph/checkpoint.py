"""Checkpointers: a SQLite file by default, PostgreSQL for many workers.

Opening checks the target first, so a corrupt or foreign file is one clear error and is never
modified.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from graph import state
from graph.versioned_saver import VALUES_TABLE, VersionedSqliteSaver
from hi_moe.errors import UserError

SQLITE_MAGIC = b"SQLite format 3\x00"
SAVER_TABLES = {"checkpoints", "writes", VALUES_TABLE}
JOURNAL_SUFFIXES = ("-wal", "-shm", "-journal")


def state_serializer() -> JsonPlusSerializer:
    """A serializer that restores exactly the record types of graph.state, nothing else."""
    records = [
        (state.__name__, name)
        for name, value in vars(state).items()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == state.__name__
    ]
    return JsonPlusSerializer(allowed_msgpack_modules=records)


class CheckpointError(UserError):
    """The checkpoint store cannot be used; the message says which store and why."""


def check_sqlite_file(path: Path) -> None:
    """Refuse a file that is not SQLite, is corrupt, or belongs to another program."""
    if path.is_dir():
        raise CheckpointError(f"checkpoint path {path} is a directory, not a SQLite file")
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as handle:
        if handle.read(16) != SQLITE_MAGIC:
            raise CheckpointError(f"checkpoint file {path} is not a SQLite database")
    journals = [path.with_name(path.name + suffix) for suffix in JOURNAL_SUFFIXES]
    made = [journal for journal in journals if not journal.exists()]
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        # A header that claims WAL mode makes even a read-only connection create its journals.
        for journal in made:
            journal.unlink(missing_ok=True)
        raise CheckpointError(f"checkpoint file {path} is corrupt: {exc}") from exc
    # Only another program's tables make it foreign: a store being set up holds some of ours.
    foreign = {t for t in tables if not t.startswith("sqlite_")} - SAVER_TABLES
    if foreign:
        raise CheckpointError(
            f"checkpoint file {path} is a SQLite database of another program "
            f"(tables: {', '.join(sorted(tables))})"
        )


@contextmanager
def open_checkpointer(target: str) -> Iterator[BaseCheckpointSaver]:
    """A ready checkpointer for a SQLite path or a `postgresql://` URL."""
    if target.startswith(("postgres://", "postgresql://")):
        yield from _postgres(target)
        return
    path = Path(target)
    check_sqlite_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise CheckpointError(f"cannot create checkpoint file {path}: {exc}") from exc
    try:
        saver = VersionedSqliteSaver(conn, serde=state_serializer())
        saver.setup()
        yield saver
    finally:
        conn.close()


def _postgres(url: str) -> Iterator[BaseCheckpointSaver]:
    # Lazy: the Postgres driver and saver take half a second to import; only postgres:// needs them.
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    try:
        conn = psycopg.connect(
            url, autocommit=True, prepare_threshold=0, row_factory=dict_row, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise CheckpointError(f"cannot connect to PostgreSQL checkpoints: {reason}") from exc
    with conn:
        saver = PostgresSaver(conn, serde=state_serializer())
        saver.setup()
        yield saver
