"""A SQLite checkpointer that stores each channel's value once per version.

LangGraph's SqliteSaver writes the whole state into every checkpoint, so a long task's store
grows with the square of its steps. This saver keeps the checkpoint row small (channel versions
and metadata) and writes a channel's value only when a step gives it a new version, as
LangGraph's PostgresSaver does: a step costs the bytes of what it changed. A list channel that
only grew since the version this process last wrote (the append-only lists of the state, such as
settled parts' outcomes) is stored as the new items and a reference to that version, so a task
with k parts stores each part's code once rather than k times. Rows written by the plain
SqliteSaver (whole states) still load.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from typing import Any, NamedTuple

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
APPEND = "append"
"""Type prefix of a stored version that is an earlier version's list plus new items:
`append|<base version>|<type of the new items>`."""
NO_VALUE = object()
"""What loading a version returns when the channel held no value."""
MAX_CHAIN = 16
"""Appended versions in a row before a list is stored whole again: bounds the rows a load reads."""
TRACKED_LISTS = 1024
"""Channels of threads whose last stored list is remembered (a busy server runs many threads)."""


def append_base(kind: str | None) -> str | None:
    """The version a stored value extends, if it is an appended list."""
    if kind is None or not kind.startswith(f"{APPEND}|"):
        return None
    return kind.split("|", 2)[1]


class LastList(NamedTuple):
    """The last list this process stored for one channel of one thread."""

    version: str
    items: list
    """A deep copy: an item a node changed in place since is seen as a change, not as stored."""
    chain: int


class VersionedSqliteSaver(SqliteSaver):
    """SqliteSaver with channel values stored per version instead of per checkpoint."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_lists: dict[tuple[str, str, str], LastList] = {}

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
        rows, stored_lists = [], {}
        for channel, version in new_versions.items():
            key = (thread_id, namespace, channel)
            if channel not in values:
                kind, blob = EMPTY, None
            elif isinstance(values[channel], list):
                kind, blob, stored_lists[key] = self._list_form(key, str(version), values[channel])
            else:
                kind, blob = self.serde.dumps_typed(values[channel])
            rows.append((thread_id, namespace, channel, str(version), kind, blob))
        with self.cursor() as cur:
            cur.executemany(
                f"INSERT OR REPLACE INTO {VALUES_TABLE} (thread_id, checkpoint_ns, channel,"
                " version, type, value) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        self._remember(stored_lists)  # only once stored: a later version may then extend them
        return super().put(config, {**checkpoint, "channel_values": {}}, metadata, new_versions)

    def _list_form(
        self, key: tuple[str, str, str], version: str, items: list
    ) -> tuple[str, bytes, LastList]:
        """The list serialised whole, or as the items appended to the last list stored."""
        last = self._last_lists.get(key)
        if (
            last is None
            or last.chain >= MAX_CHAIN
            or len(items) <= len(last.items)
            or items[: len(last.items)] != last.items
        ):
            return (*self.serde.dumps_typed(items), LastList(version, copy.deepcopy(items), 0))
        kind, blob = self.serde.dumps_typed(items[len(last.items) :])
        extended = LastList(version, copy.deepcopy(items), last.chain + 1)
        return f"{APPEND}|{last.version}|{kind}", blob, extended

    def _remember(self, stored: dict[tuple[str, str, str], LastList]) -> None:
        for key, last in stored.items():
            self._last_lists.pop(key, None)  # most recent last: the oldest key is evicted first
            self._last_lists[key] = last
        while len(self._last_lists) > TRACKED_LISTS:
            del self._last_lists[next(iter(self._last_lists))]

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
        for key in [k for k in self._last_lists if k[0] == str(thread_id)]:
            del self._last_lists[key]  # a new run under this id must not extend deleted rows
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
                value = self._load_value(cur, (thread_id, namespace, channel), str(version))
                if value is not NO_VALUE:
                    values[channel] = value
        return item._replace(checkpoint={**checkpoint, "channel_values": values})

    def _load_value(self, cur: sqlite3.Cursor, key: tuple[str, str, str], version: str) -> Any:
        """A stored version's value (an appended list rebuilt from its base), or NO_VALUE."""
        row = cur.execute(
            f"SELECT type, value FROM {VALUES_TABLE} WHERE thread_id = ? AND"
            " checkpoint_ns = ? AND channel = ? AND version = ?",
            (*key, version),
        ).fetchone()
        if row is None or row[0] == EMPTY:
            return NO_VALUE
        base = append_base(row[0])
        if base is None:
            return self.serde.loads_typed((row[0], row[1]))
        earlier = self._load_value(cur, key, base)
        if not isinstance(earlier, list):
            raise ValueError(f"{key[2]} version {version} extends version {base}, which is gone")
        return earlier + self.serde.loads_typed((row[0].split("|", 2)[2], row[1]))
