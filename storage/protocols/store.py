"""A store: the bundle of domains a URL opens (``storage.open``).

Part of :mod:`storage.protocols` (the contract; import the names from there)."""

from __future__ import annotations

from typing import Protocol

from storage.protocols.blobs import BlobStore
from storage.protocols.memory import MemoryStore
from storage.protocols.observability import ObservabilityStore
from storage.protocols.scores import ScoreStore
from storage.protocols.vectors import VectorStore
from storage.protocols.workflows import WorkflowStore

DOMAINS: tuple[str, ...] = (
    "memory", "workflows", "observability", "scores", "blobs", "vectors",
)


class Store(Protocol):
    """A bundle of domains. A domain a backend lacks is ``None``."""

    memory: MemoryStore | None
    workflows: WorkflowStore | None
    observability: ObservabilityStore | None
    scores: ScoreStore | None
    blobs: BlobStore | None
    vectors: VectorStore | None

    def setup(self) -> None:
        """Create tables, indexes, folders if missing. Idempotent."""
        ...

    def close(self) -> None:
        """Release connections and clients."""
        ...
