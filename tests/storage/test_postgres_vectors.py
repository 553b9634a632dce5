"""pgvector: what only this backend has (the missing extension, the HNSW path, Mastra's layout)."""

from __future__ import annotations

import random
from typing import Any

import psycopg
import pytest

import storage
from storage import vector_rules as rules
from storage.errors import UnavailableError
from storage.records import Message, MessageVector, Thread
from tests.storage.conformance.helpers import at, content
from tests.storage.fakes import pg
from tests.storage.fakes.pgvector import pgvector_database, pgvector_store

pytestmark = pytest.mark.postgres


def _gauss(seed: str, dims: int = 16) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0, 1) for _ in range(dims)]


def _fill(store: Any, resources: int, per_resource: int) -> dict[str, list[float]]:
    vectors: dict[str, list[float]] = {}
    for r in range(resources):
        store.memory.save_thread(Thread(id=f"t-{r}", resource_id=f"u-{r}"))
        saved = store.memory.save_messages(
            [
                Message(id=f"m-{r}-{i}", thread_id=f"t-{r}", role="user",
                        content=content(f"{r} {i}"), created_at=at(i))
                for i in range(per_resource)
            ]
        )
        batch = []
        for m in saved:
            vectors[m.id] = _gauss(m.id)
            batch.append(MessageVector(message_id=m.id, thread_id=m.thread_id,
                                       resource_id=f"u-{r}", created_at=m.created_at,
                                       vector=tuple(vectors[m.id]), embedder="e"))
        store.vectors.upsert(batch)
    return vectors


def test_a_server_without_pgvector_names_the_extension_and_serves_the_rest(tmp_path: Any) -> None:
    # The machine's PostgreSQL 15 has no pgvector.
    url = pg.session_database()
    pg.empty_tables(url)
    store = storage.open(url)
    store.setup()
    try:
        with pytest.raises(UnavailableError, match="pgvector"):
            store.vectors.search([1.0, 0.0], embedder="e", resource_id="u-1")
        with pytest.raises(UnavailableError, match="extension"):
            store.vectors.delete_thread("t-1")
        store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
        store.memory.save_messages(
            [Message(id="m-1", thread_id="t-1", role="user", content=content("hi"))]
        )
        store.memory.delete_thread("t-1")  # no trigger, no vector table: still fine
        assert store.memory.get_thread("t-1") is None
    finally:
        store.close()


def test_hnsw_with_iterative_scan_finds_what_exact_search_finds(tmp_path: Any) -> None:
    # One big resource and small ones; with sequential and B-tree scans disabled the
    # planner must use HNSW, filtered by resource: the iterative scan keeps going
    # until top_k rows of the resource are found, in exact order on this set.
    with pgvector_store(tmp_path) as store:
        vectors = _fill(store, resources=4, per_resource=300)
        url = pgvector_database()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE memory_messages_16")
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET enable_bitmapscan = off")
            conn.execute("SET enable_indexscan = on")
            conn.execute("DROP INDEX memory_messages_16_resource_thread_idx")
            plan = "\n".join(
                r[0] for r in conn.execute(
                    "EXPLAIN SELECT metadata->>'message_id' FROM memory_messages_16 "
                    "WHERE metadata->>'resource_id' = 'u-2' "
                    "ORDER BY embedding <=> CAST(%s AS vector) LIMIT 10",
                    ["[" + ",".join("0.1" for _ in range(16)) + "]"],
                )
            )
            assert "memory_messages_16_vector_idx" in plan
            for q in range(10):
                query = _gauss(f"query-{q}")
                rows = conn.execute(
                    "SELECT message_id FROM stowage_search_message_vectors(%s, 'u-2', NULL, 10)",
                    ["[" + ",".join(repr(x) for x in query) + "]"],
                ).fetchall()
                target = rules.to_float32(query)
                exact = sorted(
                    (k for k in vectors if k.startswith("m-2-")),
                    key=lambda k: -rules.cosine(target, rules.to_float32(vectors[k])),
                )[:10]
                assert [r[0] for r in rows] == exact


def test_the_table_has_mastras_layout(tmp_path: Any) -> None:
    with pgvector_store(tmp_path) as store:
        _fill(store, resources=1, per_resource=2)
        with psycopg.connect(pgvector_database()) as conn:
            columns = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'memory_messages_16' ORDER BY ordinal_position"
            ).fetchall()
            metadata = conn.execute(
                "SELECT vector_id, metadata FROM memory_messages_16 ORDER BY vector_id"
            ).fetchall()
        assert [c[0] for c in columns] == ["id", "vector_id", "embedding", "metadata"]
        assert metadata[0][0] == "m-0-0"
        assert {"message_id": "m-0-0", "thread_id": "t-0", "resource_id": "u-0"}.items() <= (
            metadata[0][1].items()
        )
