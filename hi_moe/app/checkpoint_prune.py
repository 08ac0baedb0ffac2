"""`hi-moe threads --prune`: drop the intermediate checkpoints of finished threads.

A finished thread needs only its last checkpoint (final state and result): `threads`,
`resume` (which reports it finished) and Studio's current state read nothing else. Channel
values no kept checkpoint uses go too. Unfinished threads are never touched, so they resume.
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from graph.versioned_saver import VALUES_TABLE, VersionedSqliteSaver, append_base

SQLITE_STEPS = (
    "DELETE FROM writes WHERE thread_id = :thread AND checkpoint_id != :keep",
    "DELETE FROM checkpoints WHERE thread_id = :thread AND checkpoint_id != :keep",
)
POSTGRES_STEPS = (
    "DELETE FROM checkpoint_writes WHERE thread_id = %(thread)s AND checkpoint_id != %(keep)s",
    "DELETE FROM checkpoints WHERE thread_id = %(thread)s AND checkpoint_id != %(keep)s",
    "DELETE FROM checkpoint_blobs b WHERE b.thread_id = %(thread)s AND NOT EXISTS ("
    " SELECT 1 FROM checkpoints c WHERE c.thread_id = b.thread_id"
    " AND c.checkpoint_ns = b.checkpoint_ns"
    " AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)",
)


def prune_finished(saver: BaseCheckpointSaver, thread_ids: list[str]) -> int:
    """Keep only the latest checkpoint of each thread; returns how many checkpoints went."""
    removed = 0
    for thread_id in thread_ids:
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        latest = saver.get_tuple(config)
        if latest is None:
            continue
        removed += sum(1 for _ in saver.list(config)) - 1
        if isinstance(saver, VersionedSqliteSaver):
            prune_sqlite(saver, thread_id, latest)
        else:
            prune_postgres(saver, thread_id, latest)
    return removed


def prune_sqlite(saver: VersionedSqliteSaver, thread_id: str, latest: CheckpointTuple) -> None:
    params = {"thread": thread_id, "keep": latest.config["configurable"]["checkpoint_id"]}
    used = {(c, str(v)) for c, v in latest.checkpoint["channel_versions"].items()}
    with saver.lock, saver.conn:
        for statement in SQLITE_STEPS:
            saver.conn.execute(statement, params)
        stored = saver.conn.execute(
            f"SELECT channel, version, type FROM {VALUES_TABLE} WHERE thread_id = ?", (thread_id,)
        ).fetchall()
        bases = {(c, v): append_base(kind) for c, v, kind in stored}
        for channel, version in list(used):  # an appended list needs the versions it extends
            while (base := bases.get((channel, version))) is not None:
                version = base
                used.add((channel, version))
        saver.conn.executemany(
            f"DELETE FROM {VALUES_TABLE} WHERE thread_id = ? AND channel = ? AND version = ?",
            [(thread_id, c, v) for c, v, _ in stored if (c, v) not in used],
        )


def prune_postgres(saver: BaseCheckpointSaver, thread_id: str, latest: CheckpointTuple) -> None:
    params = {"thread": thread_id, "keep": latest.config["configurable"]["checkpoint_id"]}
    with saver.conn.transaction():  # type: ignore[attr-defined]
        for statement in POSTGRES_STEPS:
            saver.conn.execute(statement, params)  # type: ignore[attr-defined]
