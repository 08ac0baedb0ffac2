"""`hi-moe threads --prune`: drop the intermediate checkpoints of finished threads.

A finished thread needs only its last checkpoint (final state and result): `threads`,
`resume` (which reports it finished) and Studio's current state read nothing else. Unfinished
threads are never touched, so they can still resume.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver

SQLITE_STEPS = (
    "DELETE FROM writes WHERE thread_id = :thread AND checkpoint_id != :keep",
    "DELETE FROM checkpoints WHERE thread_id = :thread AND checkpoint_id != :keep",
)
POSTGRES_STEPS = (
    "DELETE FROM checkpoint_writes WHERE thread_id = %(thread)s AND checkpoint_id != %(keep)s",
    "DELETE FROM checkpoints WHERE thread_id = %(thread)s AND checkpoint_id != %(keep)s",
    # Channel values are stored once per version: keep only those the last checkpoint uses.
    "DELETE FROM checkpoint_blobs b WHERE b.thread_id = %(thread)s AND NOT EXISTS ("
    " SELECT 1 FROM checkpoints c WHERE c.thread_id = b.thread_id"
    " AND c.checkpoint_ns = b.checkpoint_ns"
    " AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)",
)


def prune_finished(saver: BaseCheckpointSaver, thread_ids: list[str]) -> int:
    """Keep only the latest checkpoint of each thread; returns how many checkpoints went."""
    removed = 0
    for thread_id in thread_ids:
        latest = saver.get_tuple({"configurable": {"thread_id": thread_id}})
        if latest is None:
            continue
        before = sum(1 for _ in saver.list({"configurable": {"thread_id": thread_id}}))
        keep = latest.config["configurable"]["checkpoint_id"]
        run(saver, {"thread": thread_id, "keep": keep})
        removed += before - 1
    return removed


def run(saver: BaseCheckpointSaver, params: dict) -> None:
    """The delete statements for the saver's own tables, in one transaction."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    if isinstance(saver, SqliteSaver):
        with saver.lock, saver.conn:
            for statement in SQLITE_STEPS:
                saver.conn.execute(statement, params)
        return
    with saver.conn.transaction():
        for statement in POSTGRES_STEPS:
            saver.conn.execute(statement, params)
