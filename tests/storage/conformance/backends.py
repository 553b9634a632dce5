"""The backends the conformance suite runs on: a later backend joins by adding one entry.

Each factory is a context manager taking a scratch folder and yielding a store that
has been ``setup()``; it cleans up after itself. ``lacks`` names features a backend
deliberately does not have (``"overflow"``: no blob store, so oversize items raise
``ItemTooLargeError``; ``"large_requests"``: one write is capped at 4 MiB, so a bigger
item raises ``ItemTooLargeError``; ``"streaming_blobs"``: blobs are held whole in
memory; ``"sql_faults"``: the memory domain is not SQL, so a database trigger cannot
fail a delete mid-transaction); tests needing one call ``backend.require(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import storage


@dataclass(frozen=True)
class Backend:
    name: str
    factory: Callable[[Path], AbstractContextManager[Any]]
    lacks: frozenset[str] = frozenset()
    marks: tuple[Any, ...] = field(default_factory=tuple)

    def has(self, feature: str) -> bool:
        return feature not in self.lacks

    def require(self, feature: str) -> None:
        if feature in self.lacks:
            pytest.skip(f"{self.name} deliberately lacks {feature}")


@contextmanager
def _memory(tmp: Path) -> Iterator[Any]:
    store = storage.open("memory://")
    store.setup()
    yield store
    store.close()


@contextmanager
def _sqlite(tmp: Path) -> Iterator[Any]:
    store = storage.open(f"sqlite:///{tmp / 'conformance.db'}")
    store.setup()
    yield store
    store.close()


@contextmanager
def _sqlite_files(tmp: Path) -> Iterator[Any]:
    # The embedded default's shape: SQLite for the records, a folder for the blobs.
    store = storage.CompositeStore(
        storage.open(f"sqlite:///{tmp / 'conformance.db'}"),
        blobs=storage.open(f"file:///{tmp / 'blobs'}"),
    )
    store.setup()
    yield store
    store.close()


BACKENDS: list[Backend] = [
    # Memory-resident by nature: a blob is held whole, so it cannot stream.
    Backend("memory", _memory, lacks=frozenset({"streaming_blobs", "sql_faults"})),
    # SQLite has no item size limit, so even without a blob store nothing is refused.
    Backend("sqlite", _sqlite),
    Backend("sqlite+files", _sqlite_files),
]

# PostgreSQL (issue 4): the real server at STOWAGE_TEST_PG_DSN, directly and through the
# fake rds-data client; composites put workflows + scores there. Skipped when the server
# is unreachable, failed under CI=true.
from tests.storage.fakes import pg as _pg  # noqa: E402

BACKENDS += [
    Backend("postgres", _pg.postgres_store, marks=(pytest.mark.postgres,)),
    # Values over the Data API's 4 MiB request limit are uploaded in parts, so nothing lacks.
    Backend("data-api", _pg.data_api_store, marks=(pytest.mark.postgres,)),
    Backend(
        "composite-sqlite+postgres",
        _pg.composite_sqlite_postgres_store,
        marks=(pytest.mark.postgres,),
    ),
    Backend(
        "composite-dynamodb+postgres",
        # Memory on DynamoDB overflowing to S3, workflows + scores on Aurora (Data API).
        _pg.composite_dynamodb_postgres_store,
        lacks=frozenset({"sql_faults"}),
        marks=(pytest.mark.postgres,),
    ),
]


# DynamoDB (+ S3) under moto (issue 3). Tables come from setup(); any Scan on a request
# path fails the test at once (the backend must Query keys and indexes only).
@contextmanager
def _dynamodb_only(tmp: Path) -> Iterator[Any]:
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb() as (store, _):
        yield store


@contextmanager
def _dynamodb_s3(tmp: Path) -> Iterator[Any]:
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb(with_s3=True) as (store, _):
        yield store


BACKENDS += [
    # No blob store: oversize items raise ItemTooLargeError instead of overflowing.
    Backend("dynamodb", _dynamodb_only, lacks=frozenset({"overflow", "sql_faults"})),
    Backend("dynamodb+s3", _dynamodb_s3, lacks=frozenset({"sql_faults"})),
]
