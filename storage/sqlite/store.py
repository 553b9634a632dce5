"""``SQLiteStore``: the embedded default, every domain but blobs in one SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage.lifecycle.erase import EraseMixin
from storage.lifecycle.prune import PruneMixin
from storage.protocols import BlobStore
from storage.sqlite.db import DEFAULT_TIMEOUT_S, SQLiteDatabase
from storage.sqlite.memory import SQLiteMemoryStore
from storage.sqlite.observability import SQLiteObservabilityStore
from storage.sqlite.scores import SQLiteScoreStore
from storage.sqlite.vectors import SQLiteVectorStore
from storage.sqlite.workflows import SQLiteWorkflowStore


class SQLiteStore(PruneMixin, EraseMixin):
    """Memory, workflows, observability, scores and vectors in one file, in Mastra's schema.

    Tables are created on first use; :meth:`setup` does it eagerly. Safe to share
    between threads (one connection each) and between processes (WAL, write lock
    taken at ``BEGIN IMMEDIATE``).

    Args:
        path: the database file (parent folders are created).
        timeout: seconds a write waits for another writer to finish.
        **options: passed to :class:`SQLiteDatabase` (``dbapi``, ``load_vec``).
    """

    blobs: BlobStore | None

    def __init__(
        self, path: str | Path, *, timeout: float = DEFAULT_TIMEOUT_S, **options: Any
    ) -> None:
        self.db = SQLiteDatabase(path, timeout=timeout, **options)
        self.memory = SQLiteMemoryStore(self.db)
        self.workflows = SQLiteWorkflowStore(self.db)
        self.observability = SQLiteObservabilityStore(self.db)
        self.scores = SQLiteScoreStore(self.db)
        self.vectors = SQLiteVectorStore(self.db)
        self.memory.attach_vectors(self.vectors)
        self.blobs = None

    @property
    def path(self) -> Path:
        """The database file."""
        return self.db.path

    def setup(self) -> None:
        """Create tables and indexes if missing (idempotent)."""
        self.db.setup()

    def close(self) -> None:
        """Close every connection this store opened."""
        self.db.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.db.path)!r})"
