"""``PostgresStore``: the four SQL domains over one driver, set up on first use."""

from __future__ import annotations

import logging
import threading

from storage.lifecycle.erase import EraseMixin
from storage.lifecycle.prune import PruneMixin
from storage.postgres.driver import Driver
from storage.postgres.memory import PostgresMemoryStore
from storage.postgres.observability import PostgresObservabilityStore
from storage.postgres.schema import migrate
from storage.postgres.scores import PostgresScoreStore
from storage.postgres.vectors import PostgresVectorStore
from storage.postgres.workflows import PostgresWorkflowStore
from storage.protocols import BlobStore

log = logging.getLogger(__name__)


class PostgresStore(PruneMixin, EraseMixin):
    """Memory, workflows, observability, scores and vectors in Mastra's PostgreSQL schema.

    The migrations run on the first operation (or an explicit :meth:`setup`), once
    per process; with ``auto_migrate=False`` only :meth:`setup` runs them (deployed
    functions: the deploy migrated, so no request pays a schema statement).

    The vectors domain's schema (the pgvector extension, the ``(embedder, dimensions)``
    binding table, the vectors table of ``vector_dimensions`` with its indexes, cascade
    triggers and search function) is created by :meth:`setup` when
    ``vector_dimensions`` is given (``?vector_dimensions=N`` or
    ``STOWAGE_VECTOR_DIMENSIONS``), so the deploy's setup creates it. Without it,
    with ``auto_migrate`` on, the vectors domain creates them on first use; with
    ``auto_migrate=False`` no DDL runs outside :meth:`setup` (a vectors domain not set
    up raises ``UnavailableError``). A server without pgvector serves the other
    domains either way, unless :meth:`setup` was asked for vectors.

    There is no blob domain: pair it with ``s3://`` or ``file://`` in a
    :class:`~storage.composite.CompositeStore`, which hands the blobs to ``memory``
    so deleting a thread deletes its attachments.

    Args:
        driver: :class:`~storage.postgres.psycopg_driver.PsycopgDriver` or
            :class:`~storage.postgres.data_api.DataApiDriver`.
        auto_migrate: run pending migrations before the first operation (and let the
            vectors domain create its schema on first use).
        vector_dimensions: :meth:`setup` also creates the vectors domain's schema for
            vectors of this size.
    """

    blobs: BlobStore | None = None

    def __init__(
        self, driver: Driver, *, auto_migrate: bool = True, vector_dimensions: int | None = None
    ) -> None:
        self.driver = driver
        self.vector_dimensions = vector_dimensions
        self._ready = not auto_migrate
        self._lock = threading.Lock()
        self.memory = PostgresMemoryStore(driver, self._ensure_setup)
        self.workflows = PostgresWorkflowStore(driver, self._ensure_setup)
        self.observability = PostgresObservabilityStore(driver, self._ensure_setup)
        self.scores = PostgresScoreStore(driver, self._ensure_setup)
        self.vectors = PostgresVectorStore(driver, self._ensure_setup, ddl=auto_migrate)
        self.memory.attach_vectors(self.vectors)

    def setup(self) -> None:
        """Apply pending migrations, and create the vectors domain's schema when
        ``vector_dimensions`` is set (idempotent; safe when several processes race).

        Raises:
            UnavailableError: vectors asked for on a server without pgvector.
            ValidationError: the database's vectors are bound to other dimensions.
        """
        with self._lock:
            migrate(self.driver)
            self._ready = True
        if self.vector_dimensions is not None:
            self.vectors.prepare(self.vector_dimensions)

    def _ensure_setup(self) -> None:
        if not self._ready:
            with self._lock:
                if self._ready:
                    return
                migrate(self.driver)
                self._ready = True

    def close(self) -> None:
        """Close the driver's connections."""
        self.driver.close()

    def __repr__(self) -> str:
        return f"PostgresStore({type(self.driver).__name__})"
