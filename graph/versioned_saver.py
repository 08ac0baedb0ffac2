"""A SQLite checkpointer that stores each channel's value once per version.

LangGraph's SqliteSaver writes the whole state into every checkpoint, so a long task's store
grows with the square of its steps. This saver keeps the checkpoint row small (channel versions
and metadata) and writes a channel's value only when a step gives it a new version, as
LangGraph's PostgresSaver does: a step costs the bytes of what it changed. Rows written by the
plain SqliteSaver (whole states) still load.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.sqlite import SqliteSaver

VALUES_TABLE = "channel_values"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {VALUES_TABLE} (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    type TEXT,
    value BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
)
"""
EMPTY = "empty"
"""The type of a stored version whose channel holds no value."""


class VersionedSqliteSaver(SqliteSaver):
    """SqliteSaver with channel values stored per version instead of per checkpoint."""

    def setup(self) -> None:
        if self.is_setup:
            return
        super().setup()
        self.conn.execute(SCHEMA)
        self.conn.commit()

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Write the new versions' values first, then the checkpoint row without values."""
        thread_id = str(config["configurable"]["thread_id"])
        namespace = config["configurable"].get("checkpoint_ns", "")
        values = checkpoint["channel_values"]
        rows = []
        for channel, version in new_versions.items():
            kind, blob = (
                self.serde.dumps_typed(values[channel]) if channel in values else (EMPTY, None)
            )
            rows.append((thread_id, namespace, channel, str(version), kind, blob))
        with self.cursor() as cur:
            cur.executemany(
                f"INSERT OR REPLACE INTO {VALUES_TABLE} (thread_id, checkpoint_ns, channel,"
                " version, type, value) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return super().put(config, {**checkpoint, "channel_values": {}}, metadata, new_versions)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        found = super().get_tuple(config)
        return None if found is None else self._with_values(found)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        found = list(super().list(config, filter=filter, before=before, limit=limit))
        for item in found:
            yield self._with_values(item)

    def delete_thread(self, thread_id: str) -> None:
        super().delete_thread(thread_id)
        with self.cursor() as cur:
            cur.execute(f"DELETE FROM {VALUES_TABLE} WHERE thread_id = ?", (str(thread_id),))

    def _with_values(self, item: CheckpointTuple) -> CheckpointTuple:
        """The tuple with its channel values read back from their versions."""
        checkpoint = item.checkpoint
        values = dict(checkpoint["channel_values"])
        missing = {c: v for c, v in checkpoint["channel_versions"].items() if c not in values}
        if not missing:
            return item
        thread_id = str(item.config["configurable"]["thread_id"])
        namespace = item.config["configurable"].get("checkpoint_ns", "")
        with self.cursor(transaction=False) as cur:
            for channel, version in missing.items():
                row = cur.execute(
                    f"SELECT type, value FROM {VALUES_TABLE} WHERE thread_id = ? AND"
                    " checkpoint_ns = ? AND channel = ? AND version = ?",
                    (thread_id, namespace, channel, str(version)),
                ).fetchone()
                if row is not None and row[0] != EMPTY:
                    values[channel] = self.serde.loads_typed((row[0], row[1]))
        return item._replace(checkpoint={**checkpoint, "channel_values": values})
