"""A scratch PostgreSQL database per test run, on the server ``STOWAGE_TEST_PG_DSN`` names.

The database (``stowage_test_<random>``) is created on first use and dropped when
the process exits; tests that need an empty store truncate Mastra's tables, which
is much faster than a database per test. Each pytest-xdist worker gets its own.
"""

from __future__ import annotations

import atexit
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.conftest import skip_or_fail

DEFAULT_SERVER_DSN = "postgresql://postgres@127.0.0.1:5432/test"
TABLES = (
    "mastra_threads",
    "mastra_messages",
    "mastra_resources",
    "mastra_workflow_snapshot",
    "mastra_scorers",
    "mastra_ai_spans",
    "stowage_pending_blob_deletes",
)



class OncePerProcess:
    """A scratch resource (a database URL) made on first use and kept for the process.

    A failure to make it is remembered: that use and every later one skip the test
    with the reason (fail it under ``CI=true``, see :func:`tests.conftest.skip_or_fail`)
    instead of trying again.

    Args:
        make: builds the resource; returns its URL.
        failure: the reason to give for an exception ``make`` raised.
        catch: the exceptions that mean "unavailable here" (others propagate).
    """

    def __init__(
        self,
        make: Callable[[], str],
        *,
        failure: Callable[[Exception], str],
        catch: tuple[type[Exception], ...] = (Exception,),
    ) -> None:
        self._make = make
        self._failure = failure
        self._catch = catch
        self._lock = threading.Lock()
        self._url: str | None = None
        self._reason: str | None = None

    def get(self) -> str:
        """The resource's URL; skips (or fails under CI) when it could not be made."""
        with self._lock:
            if self._url is None and self._reason is None:
                try:
                    self._url = self._make()
                except self._catch as exc:
                    self._reason = self._failure(exc)
        if self._url is None:
            skip_or_fail(self._reason or "the scratch resource is unavailable")
        assert self._url is not None
        return self._url


def server_dsn() -> str:
    """The maintenance DSN of the test server."""
    return os.environ.get("STOWAGE_TEST_PG_DSN") or DEFAULT_SERVER_DSN


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name``."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def create_database(prefix: str = "stowage_test_") -> str:
    """Create a fresh database; return its URL. Raises ``psycopg.Error`` when unreachable."""
    name = f"{prefix}{secrets.token_hex(6)}"
    with psycopg.connect(server_dsn(), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(server_dsn(), name)


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database` (closing its other sessions)."""
    name = urlsplit(url).path.lstrip("/")
    try:
        with psycopg.connect(server_dsn(), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:
        pass  # the server went away: nothing left to clean


def _new_session_database() -> str:
    url = create_database()
    atexit.register(drop_database, url)
    return url


_session = OncePerProcess(
    _new_session_database,
    failure=lambda exc: f"PostgreSQL at {server_dsn()} is unreachable: {exc}",
    catch=(psycopg.Error,),
)


def session_database() -> str:
    """This process's scratch database URL (created once); skips (or fails under CI)."""
    return _session.get()


def empty_tables(url: str) -> None:
    """Remove every row of Mastra's tables (when they exist)."""
    with psycopg.connect(url, autocommit=True) as conn:
        present = [
            t for (t,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename = ANY(%s)", [list(TABLES)]
            )
        ]
        if present:
            # DELETE beats TRUNCATE on tables this small (no file rewrite, no exclusive lock).
            conn.execute("; ".join(f"DELETE FROM {t}" for t in present))


# --- store factories for the conformance suite (tests/storage/conformance/backends.py) ---

@contextmanager
def opened_store(url: str) -> Iterator[Any]:
    """``storage.open(url)``, set up, and closed on exit."""
    import storage

    store = storage.open(url)
    try:
        store.setup()
        yield store
    finally:
        store.close()


def data_api_driver(url: str) -> tuple[Any, Any]:
    """A Data API driver on the fake ``rds-data`` over ``url``; returns (driver, fake)."""
    from storage.postgres.data_api import DataApiDriver
    from tests.storage.fakes.rds_data import CLUSTER_ARN, SECRET_ARN, FakeDataApi

    fake = FakeDataApi(url)
    driver = DataApiDriver(
        CLUSTER_ARN, SECRET_ARN, fake.database, client=fake.client(), sleep=lambda _: None
    )
    return driver, fake


@contextmanager
def data_api_store_on(url: str) -> Iterator[Any]:
    """A set-up store on the Data API driver, the fake ``rds-data`` running SQL on ``url``."""
    from storage.postgres.store import PostgresStore

    driver, fake = data_api_driver(url)
    store = PostgresStore(driver)
    try:
        store.setup()
        yield store
    finally:
        store.close()
        fake.close()


@contextmanager
def postgres_store(tmp: Path) -> Iterator[Any]:
    """A ``postgresql://`` store on this run's scratch database, emptied first."""
    url = session_database()
    empty_tables(url)
    with opened_store(url + "?min_size=1&max_size=4") as store:
        yield store


@contextmanager
def data_api_store(tmp: Path) -> Iterator[Any]:
    """A store on the Data API driver, through the fake ``rds-data`` over real PostgreSQL."""
    url = session_database()
    empty_tables(url)
    with data_api_store_on(url) as store:
        yield store


@contextmanager
def composite_sqlite_postgres_store(tmp: Path) -> Iterator[Any]:
    """Memory (and observability) on SQLite, workflows and scores on PostgreSQL."""
    import storage

    try:
        sqlite = storage.open(f"sqlite:///{tmp}/memory.db")
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"the SQLite backend is not available yet: {exc}")
    with postgres_store(tmp) as pg_store:
        store = storage.CompositeStore(sqlite, workflows=pg_store, scores=pg_store)
        store.setup()
        try:
            yield store
        finally:
            sqlite.close()


@contextmanager
def composite_dynamodb_postgres_store(tmp: Path) -> Iterator[Any]:
    """Memory on DynamoDB + S3 (moto), workflows and scores on Aurora through the Data API.

    The Lambda deployment's shape: no VPC, so PostgreSQL is reached over the Data API.
    """
    import storage
    from storage.postgres.store import PostgresStore

    try:
        from tests.storage.dynamodb_support import moto_dynamodb
    except ImportError as exc:
        pytest.skip(f"the DynamoDB backend is not available yet: {exc}")
    url = session_database()
    empty_tables(url)
    driver, fake = data_api_driver(url)
    aurora = PostgresStore(driver)
    with moto_dynamodb(with_s3=True) as (dynamo_s3, _):
        store = storage.CompositeStore(dynamo_s3, workflows=aurora, scores=aurora)
        store.setup()
        try:
            yield store
        finally:
            aurora.close()
            fake.close()
