"""Threads, messages and resources in Mastra's ``mastra_threads``/``_messages``/``_resources``.

The operations live by concern: :mod:`storage.postgres.threads`,
:mod:`storage.postgres.messages` and :mod:`storage.postgres.resources` (their SQL and
row decoding in :mod:`storage.postgres._memory_sql`); this class holds what is attached
to them (a blob store, a vector store).
"""

from __future__ import annotations

from storage.postgres.messages import PostgresMessageOps
from storage.postgres.resources import PostgresResourceOps
from storage.postgres.retention import ThreadPruning
from storage.postgres.threads import PostgresThreadOps
from storage.protocols import BlobStore, VectorStore
from storage.vector_cascade import ForeignVectors


class PostgresMemoryStore(
    ThreadPruning, PostgresThreadOps, PostgresMessageOps, PostgresResourceOps
):
    """The ``memory`` domain on PostgreSQL, in Mastra's tables."""

    _blobs: BlobStore | None = None
    _foreign_vectors: ForeignVectors | None = None

    def attach_blobs(self, blobs: BlobStore | None) -> None:
        """Delete a thread's attachments from ``blobs`` when the thread is deleted."""
        self._blobs = blobs

    def attach_vectors(self, vectors: VectorStore | None) -> None:
        """Keep ``vectors`` in step: this database's by triggers, another after each write."""
        self._foreign_vectors = ForeignVectors()
        self._foreign_vectors.attach(
            vectors, beside=getattr(vectors, "driver", None) is self._driver
        )
