"""The ``memory://`` backend: every domain in process memory.

It is the reference implementation of :mod:`storage.protocols` (the oracle of the
conformance and model-based tests) and the fake behind agent and handler tests.
Each ``storage.open("memory://")`` is a new, empty, independent store. Every
domain of one store shares one re-entrant lock, and records are deep-copied on the
way in and out, so a caller can never mutate what is stored.
"""

from __future__ import annotations

import threading
from urllib.parse import SplitResult

from storage.lifecycle.erase import EraseMixin
from storage.lifecycle.prune import PruneMixin
from storage.memory.blobs import InMemoryBlobStore
from storage.memory.conversations import InMemoryMemoryStore
from storage.memory.observability import InMemoryObservabilityStore
from storage.memory.scores import InMemoryScoreStore
from storage.memory.vectors import InMemoryVectorStore
from storage.memory.workflows import InMemoryWorkflowStore


class InMemoryStore(PruneMixin, EraseMixin):
    """Every domain in memory; ``memory`` cleans up attachments in ``blobs`` and vectors."""

    def __init__(self) -> None:
        lock = threading.RLock()
        self.blobs = InMemoryBlobStore(lock=lock)
        self.memory = InMemoryMemoryStore(lock=lock, blobs=self.blobs)
        self.workflows = InMemoryWorkflowStore(lock=lock)
        self.observability = InMemoryObservabilityStore(lock=lock)
        self.scores = InMemoryScoreStore(lock=lock)
        self.vectors = InMemoryVectorStore(lock=lock, memory=self.memory)
        self.memory.attach_vectors(self.vectors)

    def setup(self) -> None:
        """Nothing to create."""

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "InMemoryStore()"


OPTIONS: tuple[str, ...] = ()


def open_url(parsed: SplitResult) -> InMemoryStore:
    """``memory://``: a new, empty store (the URL's host and path are ignored; no options)."""
    from storage.urls import url_options

    url_options(parsed, OPTIONS)
    return InMemoryStore()


__all__ = [
    "InMemoryBlobStore",
    "InMemoryMemoryStore",
    "InMemoryObservabilityStore",
    "InMemoryScoreStore",
    "InMemoryStore",
    "InMemoryVectorStore",
    "InMemoryWorkflowStore",
    "open_url",
]
