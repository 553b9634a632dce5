"""pgvector's schema is the deploy's work: ``setup()`` creates it, requests never run DDL.

With ``vector_dimensions`` (``?vector_dimensions=N`` or ``STOWAGE_VECTOR_DIMENSIONS``)
``PostgresStore.setup()`` creates the extension, the binding table and the vectors
table; with ``auto_migrate=false`` (the deployed request functions) nothing else ever
does. Checked on the real pgvector server with an event trigger that refuses every
DDL statement (``ddl_command_start`` fires for ``IF NOT EXISTS`` and ``OR REPLACE``
statements too) while the request-path store works.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

import storage
from storage.errors import UnavailableError, ValidationError
from storage.postgres.store import PostgresStore
from storage.records import Message, MessageUpdate, MessageVector, Thread
from tests.storage.conformance.helpers import at, content
from tests.storage.fakes import pg
from tests.storage.fakes.pgvector import pgvector_database, reset

pytestmark = pytest.mark.postgres

DIMS = 16


@contextmanager
def no_ddl(url: str) -> Iterator[None]:
    """Every DDL statement on the database fails inside the block."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION stowage_test_no_ddl() RETURNS event_trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'DDL on a request path: %', tg_tag; END $$")
        conn.execute("CREATE EVENT TRIGGER stowage_test_no_ddl ON ddl_command_start "
                     "EXECUTE FUNCTION stowage_test_no_ddl()")
    try:
        yield
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP EVENT TRIGGER IF EXISTS stowage_test_no_ddl")


def _objects(url: str) -> dict[str, bool]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector'), "
            "to_regclass('stowage_vector_index') IS NOT NULL, "
            f"to_regclass('memory_messages_{DIMS}') IS NOT NULL, "
            "to_regproc('stowage_search_message_vectors') IS NOT NULL, "
            "EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'stowage_vectors_on_change')"
        ).fetchone()
    assert row is not None
    return dict(zip(["extension", "binding", "table", "search", "trigger"], row, strict=True))


@contextmanager
def _opened(url: str, transport: str, **options: Any) -> Iterator[Any]:
    if transport == "psycopg":
        query = "&".join(f"{k}={str(v).lower()}" for k, v in options.items())
        store = storage.open(url + ("&" if "?" in url else "?") + query if query else url)
        try:
            yield store
        finally:
            store.close()
        return
    from tests.storage.fakes.pg import data_api_driver

    driver, fake = data_api_driver(url)
    store = PostgresStore(driver, **options)
    try:
        yield store
    finally:
        store.close()
        fake.close()


def _turn_and_vectors(store: Any) -> None:
    """What request paths do: save, embed, search, edit, delete."""
    store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    saved = store.memory.save_messages([
        Message(id=f"m-{i}", thread_id="t-1", role="user", content=content(f"text {i}"),
                created_at=at(i)) for i in range(3)])
    store.vectors.upsert([
        MessageVector(message_id=m.id, thread_id="t-1", resource_id="u-1",
                      created_at=m.created_at, embedder="e",
                      vector=tuple(float(i == j) + 0.1 for j in range(DIMS)))
        for i, m in enumerate(saved)])
    query = [float(j == 1) + 0.1 for j in range(DIMS)]
    assert store.vectors.search(query, embedder="e", resource_id="u-1", top_k=1)[0].message_id \
        == "m-1"
    store.memory.update_messages([MessageUpdate(id="m-1", content=content("changed"))])
    assert "m-1" not in [m.message_id for m in store.vectors.search(
        query, embedder="e", resource_id="u-1", top_k=3)]  # the edit dropped its vector
    store.memory.delete_thread("t-1")
    assert store.vectors.search(query, embedder="e", resource_id="u-1") == []


@pytest.mark.parametrize("transport", ["psycopg", "data-api"])
def test_setup_creates_the_vector_schema_and_requests_run_no_ddl(transport: str) -> None:
    url = pgvector_database()
    reset(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP EXTENSION IF EXISTS vector CASCADE")
    with _opened(url, transport, auto_migrate=False, vector_dimensions=DIMS) as deploy:
        deploy.setup()  # the custom resource, at deploy time
    assert _objects(url) == dict.fromkeys(
        ["extension", "binding", "table", "search", "trigger"], True)
    with no_ddl(url), _opened(url, transport, auto_migrate=False) as request:
        _turn_and_vectors(request)
        assert request.vectors.index() == ("e", DIMS)


def test_the_deploy_setup_reads_STOWAGE_VECTOR_DIMENSIONS(monkeypatch: Any) -> None:
    from handlers.setup import run_setup

    url = pgvector_database()
    reset(url)
    env = {"STOWAGE_STORAGE_URL": url + "&auto_migrate=false",
           "STOWAGE_VECTOR_DIMENSIONS": str(DIMS)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run_setup(env)
    assert _objects(url)["table"] and _objects(url)["search"]


def test_without_the_vector_setup_a_request_store_runs_no_ddl_and_is_unavailable() -> None:
    url = pgvector_database()
    reset(url)
    with _opened(url, "psycopg") as deploy:
        deploy.setup()  # migrations only: no vector_dimensions
    assert not _objects(url)["binding"]
    with no_ddl(url), _opened(url, "psycopg", auto_migrate=False) as request:
        with pytest.raises(UnavailableError) as caught:
            request.vectors.search([0.1] * DIMS, embedder="e", resource_id="u-1")
        assert caught.value.retry_after
        request.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
        (m,) = request.memory.save_messages(
            [Message(id="m-1", thread_id="t-1", role="user", content=content("hi"))])
        with pytest.raises(UnavailableError):
            request.vectors.upsert([MessageVector(
                message_id="m-1", thread_id="t-1", resource_id="u-1",
                created_at=m.created_at, vector=(0.1,) * DIMS, embedder="e")])
        request.memory.delete_thread("t-1")  # the other domains work


def test_a_binding_table_without_its_vectors_table_is_unavailable_and_binds_nothing() -> None:
    url = pgvector_database()
    reset(url)
    with _opened(url, "psycopg", vector_dimensions=DIMS) as deploy:
        deploy.setup()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE memory_messages_{DIMS}")
    with no_ddl(url), _opened(url, "psycopg", auto_migrate=False) as request:
        request.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
        (m,) = request.memory.save_messages(
            [Message(id="m-1", thread_id="t-1", role="user", content=content("hi"))])
        with pytest.raises(UnavailableError, match="setup"):
            request.vectors.upsert([MessageVector(
                message_id="m-1", thread_id="t-1", resource_id="u-1",
                created_at=m.created_at, vector=(0.1,) * DIMS, embedder="e")])
        assert request.vectors.index() is None  # the binding was rolled back


def test_setup_refuses_other_dimensions_than_the_bound_ones() -> None:
    url = pgvector_database()
    reset(url)
    with _opened(url, "psycopg", vector_dimensions=DIMS) as store:
        store.setup()
        _turn_and_vectors(store)  # binds ("e", DIMS)
    with (_opened(url, "psycopg", vector_dimensions=DIMS * 2) as other,
          pytest.raises(ValidationError, match=f"{DIMS} dimensions")):
        other.setup()


def test_setup_with_vectors_on_a_server_without_pgvector_fails_loudly() -> None:
    url = pg.session_database()  # the machine's PostgreSQL 15
    pg.empty_tables(url)
    with _opened(url, "psycopg", vector_dimensions=DIMS) as store:
        with pytest.raises(UnavailableError, match="pgvector"):
            store.setup()
        store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))  # migrated still


@pytest.mark.parametrize("bad", ["0", "abc", "5000"])
def test_bad_vector_dimensions_in_the_url_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="vector_dimensions"):
        storage.open(f"postgresql://localhost/db?vector_dimensions={bad}")
