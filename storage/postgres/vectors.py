"""``PostgresVectorStore``: message vectors in pgvector, beside Mastra's tables.

The vectors live in the table ``@mastra/memory`` + ``@mastra/pg``'s ``PgVector`` use
for semantic recall, with their layout: ``memory_messages`` for 1536 dimensions,
``memory_messages_<dims>`` otherwise, columns ``id serial``, ``vector_id text unique``
(here the message id: one vector per message), ``embedding vector(<dims>)`` and
``metadata jsonb`` = ``{message_id, thread_id, resource_id}`` (plus ``created_at``
and ``embedder``, which Mastra ignores), so a Mastra app recalls from Stowage's vectors.

Indexes: an HNSW index on cosine distance (``<table>_vector_idx``, Mastra's name;
HNSW covers up to 2,000 dimensions, wider vectors are searched exactly) and B-trees on
the metadata ids. A search names the resource: PostgreSQL's planner reads a small
resource's rows through the B-tree and sorts them exactly, and a large one through
HNSW with pgvector 0.8's iterative scan (``hnsw.iterative_scan``), which keeps
scanning until ``top_k`` rows pass the filter. ``stowage_vector_index`` records the one
``(embedder, dimensions)`` of the database. Statement-level triggers on
``mastra_messages`` delete a message's vector in the statement that deletes it or
changes its content, thread, resource or time.

The extension is not created by the store's migrations, so a server without pgvector
serves every other domain: :meth:`PostgresVectorStore.prepare` creates it with the
vectors table (``PostgresStore.setup()`` with ``vector_dimensions``: the deploy), and
with ``auto_migrate`` on (local use) the first use does; with it off no DDL ever runs
on a request path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from storage import validation as v
from storage import vector_rules as rules
from storage.errors import StorageError, UnavailableError, ValidationError
from storage.postgres import _codec as c
from storage.postgres.driver import Driver, Json, Session
from storage.postgres.vector_schema import (
    INDEX_TABLE,
    MISSING_RETRY,
    SEARCH_FUNCTION,
    bind_statements,
    table_for,
    vector_literal,
    vectors_missing,
)
from storage.records import MessageVector, VectorMatch
from storage.timeutil import from_iso

_TIE_SLACK = 8  # extra rows fetched so equal distances at the cut are ranked by rule


class PostgresVectorStore:
    """Message vectors in pgvector (see ``VectorStore``), over psycopg or the Data API.

    Args:
        driver: the driver of the store's other domains (same database).
        ready: applies the store's migrations (``mastra_messages`` must exist first).
        ddl: create the extension, the binding table and the vectors table on first
            use; ``False`` (``auto_migrate=false``): only :meth:`prepare` runs DDL, and
            a schema it did not create makes the domain raise ``UnavailableError``.
    """

    def __init__(
        self, driver: Driver, ready: Callable[[], None] | None = None, *, ddl: bool = True
    ) -> None:
        self._driver = driver
        self._ddl = ddl
        self._ready = ready or (lambda: None)
        self._lock = threading.Lock()
        self._extension_ready = False
        self._bound: tuple[str, int] | None = None  # permanent once set: safe to cache
        self._check_messages = True

    @property
    def driver(self) -> Driver:
        """The driver the vectors are read and written through."""
        return self._driver

    def attach_memory(self, memory: Any) -> None:
        """Check upserts against the messages only when ``memory`` is this database's."""
        self._check_messages = getattr(memory, "driver", None) is self._driver

    # --- writes ---------------------------------------------------------------------

    def upsert(self, vectors: Sequence[MessageVector]) -> None:
        """Store each message's vector (see :meth:`storage.protocols.VectorStore.upsert`)."""
        batch = rules.check_vectors(vectors)
        if not batch:
            return
        embedder, dimensions = batch[0].embedder, batch[0].dimensions
        bound = self._binding()
        rules.check_binding(bound, embedder, dimensions)
        rows = [
            {
                "message_id": item.message_id,
                "thread_id": item.thread_id,
                "resource_id": item.resource_id,
                "created_at": c.iso(item.created_at),
                "embedding": vector_literal(item.vector),
            }
            for item in batch
        ]
        if bound is None:
            if not self._driver.transaction(lambda tx: bool(self._kept(tx, rows))):
                return  # no message left to describe: bind nothing
            bound = self._bind(embedder, dimensions)
            rules.check_binding(bound, embedder, dimensions)
        table = table_for(dimensions)
        source = "kept" if self._check_messages else "input"
        self._driver.execute(
            f"WITH {self._input_sql()}, {self._kept_sql()} "
            f"INSERT INTO {table} (vector_id, embedding, metadata) "
            f"SELECT s.message_id, CAST(s.embedding AS vector), jsonb_build_object("
            "'message_id', s.message_id, 'thread_id', s.thread_id, "
            "'resource_id', s.resource_id, 'created_at', s.created_at, "
            f"'embedder', CAST(:embedder AS text)) FROM {source} s "
            "ON CONFLICT (vector_id) DO UPDATE SET embedding = EXCLUDED.embedding, "
            "metadata = EXCLUDED.metadata",
            {"rows": Json(rows), "embedder": embedder},
        )

    @staticmethod
    def _input_sql() -> str:
        return (
            "input AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x("
            "message_id text, thread_id text, resource_id text, created_at text, "
            "embedding text))"
        )

    @staticmethod
    def _kept_sql() -> str:
        # The message must be stored as the vector says; FOR SHARE makes a concurrent
        # delete or edit wait for this insert, so its trigger then removes the vector.
        return (
            "kept AS (SELECT i.* FROM input i JOIN mastra_messages m ON m.id = i.message_id "
            'AND m.thread_id = i.thread_id AND m."resourceId" = i.resource_id '
            "AND m.\"createdAt\" = CAST(i.created_at AS timestamptz) AT TIME ZONE 'UTC' "
            "FOR SHARE OF m)"
        )

    def _kept(self, tx: Session, rows: list[dict[str, Any]]) -> list[Any]:
        if not self._check_messages:
            return rows
        return tx.fetch(
            f"WITH {self._input_sql()}, {self._kept_sql()} SELECT message_id FROM kept",
            {"rows": Json(rows)},
        )

    def delete(self, message_ids: Sequence[str]) -> None:
        """Delete these messages' vectors; unknown ids are ignored."""
        ids = v.check_ids(message_ids, "message id")
        table = self._table()
        if ids and table:
            self._driver.execute(
                f"DELETE FROM {table} WHERE metadata->>'message_id' IN {c.in_ids('ids')}",
                {"ids": c.id_list(ids)},
            )

    def delete_thread(self, thread_id: str) -> None:
        """Delete the vectors of a thread's messages."""
        v.check_id(thread_id, "thread id")
        table = self._table()
        if table:
            self._driver.execute(
                f"DELETE FROM {table} WHERE metadata->>'thread_id' = :id", {"id": thread_id}
            )

    def delete_resource(self, resource_id: str) -> int:
        """Delete the vectors of a resource's messages; how many (0 on a database that
        never held one, even one without pgvector)."""
        v.check_id(resource_id, "resource id")
        if not self._extension_ready:
            self._ready()
            row = self._driver.fetch_one(
                "SELECT to_regclass(:name) IS NOT NULL AS present", {"name": INDEX_TABLE}
            )
            if row is None or not row["present"]:
                return 0
        table = self._table()
        if not table:
            return 0
        return self._driver.execute(
            f"DELETE FROM {table} WHERE metadata->>'resource_id' = :id", {"id": resource_id}
        )

    # --- reads ----------------------------------------------------------------------

    def search(
        self,
        vector: Sequence[float],
        *,
        embedder: str,
        resource_id: str,
        thread_id: str | None = None,
        top_k: int = rules.DEFAULT_TOP_K,
        threshold: float | None = None,
    ) -> list[VectorMatch]:
        """The nearest messages of the resource (see ``VectorStore.search``): one statement.

        Raises:
            UnavailableError: pgvector, the vectors table or the search function is not
                there (a server without the extension, a database not set up for
                vectors yet), with ``retry_after``.
        """
        query = rules.check_query(
            vector, embedder=embedder, resource_id=resource_id, thread_id=thread_id,
            top_k=top_k, threshold=threshold,
        )
        try:
            bound = self._binding()
            if bound is None:
                return []
            rules.check_binding(bound, query.embedder, query.dimensions)
            rows = self._driver.fetch(
                f"SELECT * FROM {SEARCH_FUNCTION}(:q, :resource, CAST(:thread AS text), :limit)",
                {
                    "q": vector_literal(query.vector),
                    "resource": query.resource_id,
                    "thread": query.thread_id,
                    "limit": query.top_k + _TIE_SLACK,
                },
            )
        except StorageError as exc:
            missing = vectors_missing(exc)
            if missing is None:
                raise
            raise missing from exc
        matches = [
            VectorMatch(
                message_id=r["message_id"], thread_id=r["thread_id"],
                resource_id=r["resource_id"], created_at=from_iso(r["created_at"]),
                score=1.0 - float(r["distance"]),
            )
            for r in rows
        ]
        return rules.rank(matches, query.top_k, query.threshold)

    def index(self) -> tuple[str, int] | None:
        """The ``(embedder, dimensions)`` of this database's vectors, or ``None``."""
        return self._binding()

    # --- set-up ---------------------------------------------------------------------

    def prepare(self, dimensions: int) -> None:
        """Create the extension, the binding table and the vectors table of
        ``dimensions`` (indexes, cascade triggers, search function): the deploy's setup.

        Idempotent. The binding itself (which embedder) is recorded by the first upsert.

        Raises:
            UnavailableError: the server has no pgvector.
            ValidationError: the database's vectors are bound to other dimensions.
        """
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not (
                1 <= dimensions <= rules.MAX_DIMENSIONS):
            raise ValidationError(
                f"vector dimensions must be an integer in 1..{rules.MAX_DIMENSIONS}, "
                f"got {dimensions!r}")
        self._ensure_extension(create=True)
        bound = self._binding()
        if bound is not None and bound[1] != dimensions:
            raise ValidationError(
                f"this database's vectors have {bound[1]} dimensions ({bound[0]}); "
                f"setup was asked for {dimensions}"
            )

        def body(tx: Session) -> None:
            for statement in bind_statements(table_for(dimensions), dimensions):
                tx.execute(statement)

        self._driver.transaction(body)

    def _ensure_extension(self, *, create: bool = False) -> None:
        if self._extension_ready:
            return
        self._ready()
        if not (create or self._ddl):
            return  # set up by prepare(); a missing table is UnavailableError on use
        with self._lock:
            if self._extension_ready:
                return
            try:
                self._driver.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except StorageError as exc:
                raise UnavailableError(
                    "PostgreSQL has no pgvector extension ('vector'), which the vectors "
                    "domain needs: install pgvector (Aurora PostgreSQL 15.2+ has it) or "
                    f"point STOWAGE_VECTORS_URL at another store. ({exc})",
                    retry_after=MISSING_RETRY,
                ) from exc
            self._driver.execute(
                f"CREATE TABLE IF NOT EXISTS {INDEX_TABLE} ("
                "id integer PRIMARY KEY CHECK (id = 1), embedder text NOT NULL, "
                "dimensions integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
            )
            self._extension_ready = True

    def _binding(self) -> tuple[str, int] | None:
        if self._bound is not None:
            return self._bound
        self._ensure_extension()
        try:
            row = self._driver.fetch_one(f"SELECT embedder, dimensions FROM {INDEX_TABLE}")
        except StorageError as exc:
            missing = vectors_missing(exc)
            if missing is None:
                raise
            raise missing from exc
        if row is not None:
            self._bound = (row["embedder"], int(row["dimensions"]))
        return self._bound

    def _table(self) -> str | None:
        bound = self._binding()
        return table_for(bound[1]) if bound is not None else None

    def _bind(self, embedder: str, dimensions: int) -> tuple[str, int]:
        """Bind the database to the pair and create its table, atomically (first one wins)."""

        def body(tx: Session) -> tuple[str, int]:
            row = tx.fetch_one(
                f"INSERT INTO {INDEX_TABLE} (id, embedder, dimensions) "
                "VALUES (1, :embedder, :dimensions) ON CONFLICT (id) DO NOTHING "
                "RETURNING embedder",
                {"embedder": embedder, "dimensions": dimensions},
            )
            if row is not None and self._ddl:  # ours: build the table in the same transaction
                for statement in bind_statements(table_for(dimensions), dimensions):
                    tx.execute(statement)
            elif row is not None and not self._table_exists(tx, table_for(dimensions)):
                # No DDL here: setup() creates the table. Refusing rolls the binding back.
                raise UnavailableError(
                    f"no vectors table for {dimensions}-dimension vectors: run setup() with "
                    f"STOWAGE_VECTOR_DIMENSIONS={dimensions} (the deploy's setup does)",
                    retry_after=MISSING_RETRY,
                )
            bound = tx.fetch_one(f"SELECT embedder, dimensions FROM {INDEX_TABLE}")
            assert bound is not None
            return (bound["embedder"], int(bound["dimensions"]))

        self._bound = self._driver.transaction(body)
        return self._bound

    @staticmethod
    def _table_exists(tx: Session, table: str) -> bool:
        found = tx.fetch_one("SELECT to_regclass(:t) IS NOT NULL AS ready", {"t": table})
        return bool(found and found["ready"])

    def __repr__(self) -> str:
        return f"PostgresVectorStore({type(self._driver).__name__}, index={self._bound!r})"
