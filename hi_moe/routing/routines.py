"""Routine cache: the approach of every solved part, kept in Chroma and retrieved for new tasks.

A routine is a solved part's task summary, the plan's strategy, its interface and its
solution. The architect retrieves the most similar routines for the parts it plans, never one
whose source problem belongs to the current task (no leakage into an evaluation). The
collection's name carries the schema version; a cache from an older schema is dropped and a
corrupt store is rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, cast

from hi_moe.routing.chroma import forget_chroma_system, persistent_client
from hi_moe.routing.embeddings import embed_matrix

if TYPE_CHECKING:
    from chromadb import Collection, Where

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
COLLECTION_PREFIX = "routines-v"
COLLECTION = f"{COLLECTION_PREFIX}{SCHEMA_VERSION}"
SOLUTION_CHARS = 2000


@dataclass(frozen=True)
class Routine:
    source_id: str
    summary: str
    strategy: str
    interface: str
    solution: str
    distance: float = 0.0

    @property
    def id(self) -> str:
        digest = hashlib.sha256(f"{self.source_id}\n{self.solution}".encode()).hexdigest()
        return digest[:16]


class RoutineCache:
    """A persistent Chroma collection of routines (thread-safe within a process)."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self._lock = threading.Lock()
        try:
            self._collection = self._open()
        except Exception as exc:  # chromadb raises many types for a damaged store
            log.warning("routine cache %s is unusable (%s); rebuilding it", store_dir, exc)
            forget_chroma_system(store_dir)
            shutil.rmtree(store_dir, ignore_errors=True)
            self._collection = self._open()

    def _open(self) -> Collection:
        client = persistent_client(self.store_dir)
        for stale in client.list_collections():
            if stale.name.startswith(COLLECTION_PREFIX) and stale.name != COLLECTION:
                log.warning("dropping routine cache %s of an older schema", stale.name)
                client.delete_collection(stale.name)
        return client.get_or_create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine", "schema": SCHEMA_VERSION}
        )

    def add(self, routine: Routine) -> None:
        with self._lock:
            self._collection.upsert(
                ids=[routine.id],
                documents=[routine.summary],
                embeddings=embed_matrix([routine.summary]),
                metadatas=[
                    {
                        "source_id": routine.source_id,
                        "strategy": routine.strategy,
                        "interface": routine.interface,
                        "solution": routine.solution[:SOLUTION_CHARS],
                    }
                ],
            )

    def similar(
        self, query: str, exclude_sources: set[str], count: int, max_distance: float = 2.0
    ) -> list[Routine]:
        """The `count` routines nearest `query` within `max_distance` (cosine: 0 same, 2
        opposite), none from `exclude_sources`."""
        with self._lock:
            if count < 1 or self._collection.count() == 0:
                return []
            # Chroma wants a list[str | int | float | bool] (invariant) here; a list[str] does.
            nin = {"source_id": {"$nin": sorted(exclude_sources)}}
            where = cast("Where", nin) if exclude_sources else None
            found = self._collection.query(
                query_embeddings=embed_matrix([query]),
                n_results=count,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        documents, metadatas, distances = found["documents"], found["metadatas"], found["distances"]
        assert documents is not None and metadatas is not None and distances is not None  # included
        return [
            Routine(
                source_id=str(meta["source_id"]),
                summary=document,
                strategy=str(meta["strategy"]),
                interface=str(meta["interface"]),
                solution=str(meta["solution"]),
                distance=round(float(distance), 4),
            )
            for document, meta, distance in zip(
                documents[0], metadatas[0], distances[0], strict=True
            )
            if distance <= max_distance
        ]

    def count(self) -> int:
        return self._collection.count()


@cache
def routine_cache(store_dir: Path) -> RoutineCache:
    """One cache per store directory in a process."""
    return RoutineCache(store_dir)
