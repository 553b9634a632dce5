"""``SQLiteMemoryStore``: threads, messages and resources in Mastra's tables.

The operations live by concern: :mod:`storage.sqlite.threads`,
:mod:`storage.sqlite.messages` and :mod:`storage.sqlite.resources`; this class holds
the shared state and what is attached to it (a blob store, a vector store).
"""

from __future__ import annotations

from storage.protocols import BlobStore, VectorStore
from storage.sqlite.db import SQLiteDatabase
from storage.sqlite.messages import SQLiteMessageOps
from storage.sqlite.resources import SQLiteResourceOps
from storage.sqlite.retention import ThreadPruning
from storage.sqlite.threads import SQLiteThreadOps
from storage.vector_cascade import ForeignVectors


class SQLiteMemoryStore(ThreadPruning, SQLiteThreadOps, SQLiteMessageOps, SQLiteResourceOps):
    """Threads, messages and resources (``mastra_threads``, ``_messages``, ``_resources``).

    Args:
        db: the database (shared with the other SQLite domains of the same file).
        blobs: where a deleted thread's attachments live; set later by
            :meth:`attach_blobs` when a composite store wires one in.
    """

    def __init__(self, db: SQLiteDatabase, *, blobs: BlobStore | None = None) -> None:
        self._db = db
        self._blobs = blobs
        self._title_required: bool | None = None
        self._vectors = ForeignVectors()

    def attach_blobs(self, blobs: BlobStore | None) -> None:
        """Delete attachments from ``blobs`` when their thread is deleted."""
        self._blobs = blobs

    def attach_vectors(self, vectors: VectorStore | None) -> None:
        """Keep ``vectors`` in step: this file's own by triggers, another after each commit."""
        self._vectors.attach(vectors, beside=getattr(vectors, "db", None) is self._db)
