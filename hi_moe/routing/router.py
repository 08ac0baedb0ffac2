"""Embedding router: scores a subtask against every specialist of the fleet.

Specialist descriptions and examples are embedded into a persistent Chroma collection named
after a fingerprint of the registry, so it is rebuilt only when fleet.toml changes; a corrupt
store is deleted and rebuilt. The stored embeddings are read once and train a logistic
regression (hi_moe/routing/classifier.py); a subtask's scores are its probabilities per
specialist, computed in memory from one MiniLM forward pass.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hi_moe.errors import UserError
from hi_moe.routing.chroma import forget_chroma_system, persistent_client
from hi_moe.routing.classifier import Classifier, Documents
from hi_moe.routing.embeddings import MODEL_NAME, embed_matrix
from hi_moe.routing.fleet import Fleet

if TYPE_CHECKING:
    from chromadb import Collection, Metadata

log = logging.getLogger(__name__)
COLLECTION_PREFIX = "specialists-"


def fingerprint(fleet: Fleet) -> str:
    """Names the store after the registry's content and the embedding model."""
    payload = json.dumps([asdict(s) for s in fleet.specialists], sort_keys=True) + MODEL_NAME
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def read_documents(collection: Collection) -> Documents:
    """Every stored document with its embedding and specialist, in id order."""
    stored = collection.get(include=["documents", "embeddings", "metadatas"])
    documents, metadatas = stored["documents"], stored["metadatas"]
    assert documents is not None and metadatas is not None  # both included
    order = sorted(range(len(stored["ids"])), key=lambda i: stored["ids"][i])
    return Documents(
        texts=tuple(str(documents[i]) for i in order),
        vectors=np.asarray(stored["embeddings"], dtype=np.float32)[order],
        owners=tuple(str(metadatas[i]["specialist"]) for i in order),
    )


class Router:
    """Scores subtasks against a fleet using a persistent Chroma collection."""

    def __init__(self, fleet: Fleet, store_dir: Path) -> None:
        self.fleet = fleet
        self.store_dir = store_dir
        self._collection, self.documents = self._open()
        self.classifier = Classifier(self.documents, fleet.names)

    def _open(self) -> tuple[Collection, Documents]:
        """The collection and its documents; a store that fails to give them is rebuilt."""
        try:
            return self._load()
        except Exception as exc:  # chromadb raises many types for a damaged store
            log.warning("router store %s is unusable (%s); rebuilding it", self.store_dir, exc)
            forget_chroma_system(self.store_dir)
            shutil.rmtree(self.store_dir, ignore_errors=True)
            return self._load()

    def _load(self) -> tuple[Collection, Documents]:
        collection = self._open_store()
        return collection, read_documents(collection)

    def _open_store(self) -> Collection:
        client = persistent_client(self.store_dir)
        name = COLLECTION_PREFIX + fingerprint(self.fleet)
        for stale in client.list_collections():
            if stale.name.startswith(COLLECTION_PREFIX) and stale.name != name:
                client.delete_collection(stale.name)
        collection = client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"})
        if collection.count() == 0:
            self._fill(collection)
        return collection

    def _fill(self, collection: Collection) -> None:
        ids: list[str] = []
        texts: list[str] = []
        owners: list[Metadata] = []
        for specialist in self.fleet.specialists:
            for index, text in enumerate([specialist.description, *specialist.examples]):
                ids.append(f"{specialist.name}/{index}")
                texts.append(text)
                owners.append({"specialist": specialist.name})
        collection.add(ids=ids, documents=texts, metadatas=owners, embeddings=embed_matrix(texts))

    def score(self, text: str) -> dict[str, float]:
        """Every specialist's probability for `text`, best first."""
        return self.classifier.score(embed_matrix([text])[0])


def choose(
    scores: dict[str, float],
    mode: str,
    k: int,
    seed: str,
    preferred: str | None = None,
    preference_weight: float = 0.0,
) -> tuple[list[str], dict[str, float]]:
    """The specialists to run (best first) and the combined scores.

    The dispatcher's `preferred` specialist gets `preference_weight` added before
    renormalising: a prior from the planner on top of the embedding evidence.
    """
    combined = dict(scores)
    if preferred in combined and preference_weight > 0:
        combined[preferred] += preference_weight
        total = sum(combined.values())
        combined = {name: value / total for name, value in combined.items()}
    ranked = sorted(combined, key=lambda name: -combined[name])
    if mode == "winner_take_all":
        return ranked[:1], combined
    if mode == "probabilistic":
        pick = random.Random(seed).choices(ranked, weights=[combined[n] for n in ranked])[0]
        return [pick], combined
    if mode == "ensemble":
        if k > len(ranked):
            raise UserError(f"ensemble of {k} needs {k} specialists; the fleet has {len(ranked)}")
        return ranked[:k], combined
    raise UserError(f"unknown routing mode {mode!r}: winner_take_all, probabilistic or ensemble")


_routers: dict[tuple[str, str], Router] = {}
_lock = threading.Lock()


def router_for(fleet: Fleet, fleet_path: str, store_dir: Path) -> Router:
    """One router per (registry, store) in a process."""
    key = (fleet_path, str(store_dir))
    with _lock:
        if key not in _routers:
            _routers[key] = Router(fleet, store_dir)
        return _routers[key]
