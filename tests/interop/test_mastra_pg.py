"""Stowage and ``@mastra/pg`` share one PostgreSQL database.

* The schema our migrations create is the one ``@mastra/pg`` creates (columns, types,
  nullability, defaults, constraints, indexes, trigger), and each adopts the other's.
* ``@mastra/pg`` reads the threads and messages we write, and we read what it writes,
  through psycopg and through the Data API driver.

Needs Node 22 and the pinned npm packages of ``tests/interop`` (the ``node`` fixture
of ``tests/interop/conftest.py`` installs them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

import storage
from storage import Message, Thread
from storage.postgres.psycopg_driver import PsycopgDriver
from storage.postgres.schema import MIGRATIONS, migrate
from storage.postgres.store import PostgresStore
from tests.storage.fakes import pg

pytestmark = [pytest.mark.postgres, pytest.mark.node]

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "mastra_pg.mjs"
TABLES = (
    "mastra_threads",
    "mastra_messages",
    "mastra_resources",
    "mastra_workflow_snapshot",
    "mastra_scorers",
    "mastra_ai_spans",
)


@pytest.fixture
def mastra(node: Any) -> Callable[..., Any]:
    """``mastra(command, url, *args)``: run ``mastra_pg.mjs`` with Node 22, return its JSON."""

    def run(command: str, url: str, *args: str) -> Any:
        return node.run(SCRIPT.name, command, url, *args)

    return run


@pytest.fixture
def database() -> Iterator[str]:
    pg.session_database()  # skips (or fails under CI) when the server is unreachable
    url = pg.create_database("stowage_interop_")
    yield url
    pg.drop_database(url)


def _schema(url: str) -> dict[str, Any]:
    """Mastra's six tables as the catalog describes them (our own objects left out)."""
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = ANY(%s) ORDER BY table_name, column_name", [list(TABLES)]
        ).fetchall()
        constraints = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) ORDER BY 1, 2",
            [list(TABLES)],
        ).fetchall()
        indexes = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = ANY(%s) AND indexname NOT LIKE 'stowage%%' ORDER BY 1, 2",
            [list(TABLES)],
        ).fetchall()
        triggers = conn.execute(
            "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE NOT tgisinternal ORDER BY 1, 2"
        ).fetchall()
    return {"columns": columns, "constraints": constraints, "indexes": indexes,
            "triggers": triggers}


def test_our_migrations_create_mastras_schema(mastra: Callable[..., Any]) -> None:
    pg.session_database()
    ours, theirs = pg.create_database("stowage_ours_"), pg.create_database("stowage_mastra_")
    try:
        driver = PsycopgDriver(ours, pool=False)
        migrate(driver)
        driver.close()
        mastra("init", theirs)
        mine, mastras = _schema(ours), _schema(theirs)
        assert mine["columns"] == mastras["columns"]
        assert mine["constraints"] == mastras["constraints"]
        assert mine["indexes"] == mastras["indexes"]
        assert mine["triggers"] == mastras["triggers"]
    finally:
        pg.drop_database(ours)
        pg.drop_database(theirs)


def test_each_side_adopts_a_database_the_other_created(
    database: str, mastra: Callable[..., Any]
) -> None:
    # Mastra first, then us: our migrations run over its tables without error.
    mastra("init", database)
    driver = PsycopgDriver(database, pool=False)
    assert migrate(driver) == [m.version for m in MIGRATIONS]
    driver.close()
    # And Mastra initialises again over ours.
    assert mastra("init", database) == {"ok": True}


def _store(url: str, transport: str) -> PostgresStore:
    if transport == "psycopg":
        opened: PostgresStore = storage.open(url + "?pool=false")
        return opened
    # The fake rds-data client's connections end with the database (DROP ... FORCE).
    driver, _fake = pg.data_api_driver(url)
    return PostgresStore(driver)


@pytest.mark.parametrize("transport", ["psycopg", "data-api"])
def test_we_read_what_mastra_wrote(
    database: str, transport: str, mastra: Callable[..., Any]
) -> None:
    # Given a thread and two messages written by @mastra/pg
    mastra("write", database, "t-mastra", "user-7")
    store = _store(database, transport)
    # When Stowage reads them
    thread = store.memory.get_thread("t-mastra")
    page = store.memory.list_messages("t-mastra", per_page=None)
    listed = store.memory.list_threads(resource_id="user-7", metadata={"source": "mastra"})
    store.close()
    # Then they are what Mastra wrote, to the millisecond
    assert thread is not None
    assert (thread.resource_id, thread.title, thread.metadata) == (
        "user-7", "Written by Mastra", {"source": "mastra", "n": 1})
    assert thread.created_at == datetime(2025, 4, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert [(m.id, m.role, m.text, m.resource_id) for m in page.items] == [
        ("t-mastra-q", "user", "question from mastra", "user-7"),
        ("t-mastra-a", "assistant", "answer from mastra", "user-7"),
    ]
    assert page.items[1].created_at == datetime(2025, 4, 1, 10, 0, 2, 500000, tzinfo=UTC)
    assert [t.id for t in listed.items] == ["t-mastra"]


@pytest.mark.parametrize("transport", ["psycopg", "data-api"])
def test_mastra_reads_what_we_wrote(
    database: str, transport: str, mastra: Callable[..., Any]
) -> None:
    # Given a thread and a turn written by Stowage
    store = _store(database, transport)
    created = datetime(2025, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    store.memory.save_thread(Thread(id="t-ours", resource_id="user-9", title="Ours",
                                    metadata={"lang": "fr"}, created_at=created,
                                    updated_at=created))
    content = {"format": 2, "parts": [{"type": "text", "text": "bonjour"}], "content": "bonjour"}
    store.memory.save_messages([
        Message(id="q-1", thread_id="t-ours", role="user", content=content, created_at=created),
        Message(id="a-1", thread_id="t-ours", role="assistant",
                content={"format": 2, "parts": [{"type": "text", "text": "salut"}]},
                created_at=datetime(2025, 5, 6, 7, 8, 10, tzinfo=UTC)),
    ])
    store.close()
    # When @mastra/pg reads the database
    seen = mastra("read", database, "t-ours")
    # Then it sees the same thread and messages
    assert seen["thread"]["title"] == "Ours"
    assert seen["thread"]["resourceId"] == "user-9"
    assert seen["thread"]["metadata"] == {"lang": "fr"}
    assert seen["thread"]["createdAt"] == "2025-05-06T07:08:09.123Z"
    assert seen["threads"] == ["t-ours"]
    assert [(m["id"], m["role"], m["resourceId"], m["createdAt"]) for m in seen["messages"]] == [
        ("q-1", "user", "user-9", "2025-05-06T07:08:09.123Z"),
        ("a-1", "assistant", "user-9", "2025-05-06T07:08:10.000Z"),
    ]
    assert seen["messages"][0]["content"]["parts"] == [{"type": "text", "text": "bonjour"}]


def test_a_mastra_database_is_an_export_source(
    database: str, mastra: Callable[..., Any], tmp_path: Path
) -> None:
    # Given a thread and two messages written by @mastra/pg in its own database
    from storage.lifecycle import export_resource, import_archive

    mastra("write", database, "t-mastra", "user-7")
    source = _store(database, "psycopg")
    # When its resource is exported and imported into the embedded default
    manifest = export_resource(source, "user-7", tmp_path / "user-7.zip")
    target = storage.open(f"sqlite:///{tmp_path / 'moved.db'}")
    target.setup()
    import_archive(target, tmp_path / "user-7.zip")
    # Then the target holds what Mastra wrote, field by field
    assert manifest.counts["threads"] == 1 and manifest.counts["messages"] == 2
    assert target.memory.get_thread("t-mastra") == source.memory.get_thread("t-mastra")
    assert (target.memory.list_messages("t-mastra", per_page=None).items
            == source.memory.list_messages("t-mastra", per_page=None).items)
    source.close()
    target.close()
