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

The extension is created on first use (``CREATE EXTENSION IF NOT EXISTS vector``),
not by the store's migrations, so a server without pgvector serves every other domain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from storage import validation as v
from storage import vector_rules as rules
from storage.errors import StorageError, UnavailableError
from storage.postgres import _codec as c
from storage.postgres._errors import MISSING_OBJECT_CODES, sqlstate_of
from storage.postgres.driver import Driver, Json, Session
from storage.records import MessageVector, VectorMatch
from storage.timeutil import from_iso

INDEX_TABLE = "stowage_vector_index"
HNSW_MAX_DIMENSIONS = 2000
"""pgvector's HNSW and IVFFlat indexes cover ``vector`` columns up to 2,000 dimensions."""
_TIE_SLACK = 8  # extra rows fetched so equal distances at the cut are ranked by rule
SEARCH_FUNCTION = "stowage_search_message_vectors"


MISSING_RETRY = 60.0
"""Seconds a caller is told to wait when pgvector or the vectors table is missing."""


def vectors_missing(exc: StorageError) -> UnavailableError | None:
    """``exc`` as the vectors domain's ``UnavailableError`` when it says a schema object
    is missing (undefined table, type or function, an extension the server lacks);
    ``None`` for any other error (raised as it is)."""
    if isinstance(exc, UnavailableError) or sqlstate_of(exc) not in MISSING_OBJECT_CODES:
        return None
    return UnavailableError(
        "the vectors domain's schema is missing on this PostgreSQL (pgvector, the vectors "
        "table or its search function): run setup() with the vector dimensions configured "
        f"(STOWAGE_VECTOR_DIMENSIONS). ({exc})",
        retry_after=MISSING_RETRY,
    )


def table_for(dimensions: int) -> str:
    """Mastra's semantic-recall table for vectors of ``dimensions``."""
    return "memory_messages" if dimensions == 1536 else f"memory_messages_{dimensions}"


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form, ``[x,y,...]`` (sent as text, cast in SQL: the Data API has
    no vector type)."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def _bind_statements(table: str, dimensions: int) -> list[str]:
    """The table, its indexes and the cascade triggers, for a database's first vector."""
    statements = [
        f"CREATE TABLE IF NOT EXISTS {table} (id SERIAL PRIMARY KEY, "
        f"vector_id TEXT UNIQUE NOT NULL, embedding vector({dimensions}), "
        "metadata JSONB DEFAULT '{}'::jsonb)",
        f"CREATE INDEX IF NOT EXISTS {table}_resource_thread_idx ON {table} "
        "((metadata->>'resource_id'), (metadata->>'thread_id'))",
        f"CREATE INDEX IF NOT EXISTS {table}_thread_idx ON {table} ((metadata->>'thread_id'))",
        f"CREATE INDEX IF NOT EXISTS {table}_message_idx ON {table} ((metadata->>'message_id'))",
        # Statement-level, with transition tables: deleting a thread of 50 messages runs
        # one DELETE here, not 50.
        "CREATE OR REPLACE FUNCTION stowage_vectors_on_delete() RETURNS trigger "
        # Both skip the DELETE when the vectors table is gone (dropped by hand, or by
        # DROP EXTENSION vector CASCADE): losing the vectors never blocks a message write.
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"IF to_regclass('{table}') IS NOT NULL THEN "
        f"DELETE FROM {table} WHERE metadata->>'message_id' IN (SELECT id FROM gone); "
        "END IF; RETURN NULL; END $$",
        "CREATE OR REPLACE FUNCTION stowage_vectors_on_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"IF to_regclass('{table}') IS NOT NULL THEN "
        f"DELETE FROM {table} WHERE metadata->>'message_id' IN ("
        "SELECT b.id FROM before b JOIN after a ON a.id = b.id "
        "WHERE a.content IS DISTINCT FROM b.content OR a.thread_id IS DISTINCT FROM b.thread_id "
        'OR a."resourceId" IS DISTINCT FROM b."resourceId" '
        'OR a."createdAt" IS DISTINCT FROM b."createdAt"); '
        "END IF; RETURN NULL; END $$",
        "CREATE OR REPLACE TRIGGER stowage_vectors_on_delete AFTER DELETE ON mastra_messages "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
        "EXECUTE FUNCTION stowage_vectors_on_delete()",
        "CREATE OR REPLACE TRIGGER stowage_vectors_on_change AFTER UPDATE ON mastra_messages "
        "REFERENCING OLD TABLE AS before NEW TABLE AS after FOR EACH STATEMENT "
        "EXECUTE FUNCTION stowage_vectors_on_change()",
    ]
    if dimensions <= HNSW_MAX_DIMENSIONS:
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {table}_vector_idx ON {table} "
            "USING hnsw (embedding vector_cosine_ops)"
        )
    # The search, as a function so its settings hold for that one statement (one round
    # trip, on the Data API too): when the planner picks HNSW for a big resource, the
    # iterative scan goes on until top_k rows pass the resource filter, in exact
    # distance order; EXECUTE plans each call for its own resource (B-tree or HNSW).
    statements.append(
        f"CREATE OR REPLACE FUNCTION {SEARCH_FUNCTION}(q text, resource text, thread text, "
        "k integer) RETURNS TABLE (message_id text, thread_id text, resource_id text, "
        "created_at text, distance double precision) LANGUAGE plpgsql STABLE "
        "SET hnsw.iterative_scan = 'strict_order' SET hnsw.ef_search = '200' AS $$ BEGIN "
        "RETURN QUERY EXECUTE format('SELECT metadata->>''message_id'', "
        "metadata->>''thread_id'', metadata->>''resource_id'', metadata->>''created_at'', "
        "embedding <=> CAST($1 AS vector) FROM %I WHERE metadata->>''resource_id'' = $2 "
        "AND ($3 IS NULL OR metadata->>''thread_id'' = $3) "
        f"ORDER BY embedding <=> CAST($1 AS vector) LIMIT $4', '{table}') "
        "USING q, resource, thread, k; END $$"
    )
    return statements


class PostgresVectorStore:
    """Message vectors in pgvector (see ``VectorStore``), over psycopg or the Data API.

    Args:
        driver: the driver of the store's other domains (same database).
        ready: applies the store's migrations (``mastra_messages`` must exist first).
    """

    def __init__(self, driver: Driver, ready: Callable[[], None] | None = None) -> None:
        self._driver = driver
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

    def delete_resource(self, resource_id: str) -> None:
        """Delete the vectors of a resource's messages."""
        v.check_id(resource_id, "resource id")
        table = self._table()
        if table:
            self._driver.execute(
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

    def _ensure_extension(self) -> None:
        if self._extension_ready:
            return
        self._ready()
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
        row = self._driver.fetch_one(f"SELECT embedder, dimensions FROM {INDEX_TABLE}")
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
            if row is not None:  # ours: build the table in the same transaction
                for statement in _bind_statements(table_for(dimensions), dimensions):
                    tx.execute(statement)
            bound = tx.fetch_one(f"SELECT embedder, dimensions FROM {INDEX_TABLE}")
            assert bound is not None
            return (bound["embedder"], int(bound["dimensions"]))

        self._bound = self._driver.transaction(body)
        return self._bound

    def __repr__(self) -> str:
        return f"PostgresVectorStore({type(self._driver).__name__}, index={self._bound!r})"
