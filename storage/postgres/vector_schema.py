"""The pgvector schema of the vectors domain: names, DDL, and what a missing piece means.

``PostgresVectorStore`` (``vectors.py``) runs these statements: from
:meth:`~storage.postgres.vectors.PostgresVectorStore.prepare` (``setup()`` with vector
dimensions: the deploy) or, with ``auto_migrate`` on, on first use.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.errors import StorageError, UnavailableError
from storage.postgres._errors import MISSING_OBJECT_CODES, sqlstate_of

INDEX_TABLE = "stowage_vector_index"
HNSW_MAX_DIMENSIONS = 2000
"""pgvector's HNSW and IVFFlat indexes cover ``vector`` columns up to 2,000 dimensions."""
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


def bind_statements(table: str, dimensions: int) -> list[str]:
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


__all__ = [
    "HNSW_MAX_DIMENSIONS",
    "INDEX_TABLE",
    "MISSING_RETRY",
    "SEARCH_FUNCTION",
    "bind_statements",
    "table_for",
    "vector_literal",
    "vectors_missing",
]
