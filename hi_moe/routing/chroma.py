"""Persistent Chroma stores (the router's documents, the routine cache), chromadb loaded on
first use so that importing the graph stays light."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


def persistent_client(store_dir: Path) -> ClientAPI:
    """A client on the store at `store_dir` (created if missing), telemetry off."""
    # Lazy: chromadb takes seconds to import; `hi-moe --help` and graph.builder never need it.
    import chromadb
    from chromadb.config import Settings

    store_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(store_dir), settings=Settings(anonymized_telemetry=False)
    )


def forget_chroma_system(path: Path) -> None:
    """Drop chromadb's per-path cached client system, which stays broken after a failed open."""
    # Lazy: see persistent_client.
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)
