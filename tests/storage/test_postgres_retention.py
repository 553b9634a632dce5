"""PostgreSQL with a blob folder: prune's pending blob deletions, psycopg and the Data API.

The conformance suite's PostgreSQL stores have no blob store; here one is attached,
so a thread's attachments are deleted after the commit and a failure in between is
finished by the next prune (``stowage_pending_blob_deletes``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import storage
from tests.storage.conformance import raw
from tests.storage.conformance.test_retention import (
    NOW,
    RETENTION,
    Clock,
    _all_or_nothing,
    assert_threads_gone,
    freeze,
    lines_of,
    seed_threads,
)
from tests.storage.fakes import pg

pytestmark = pytest.mark.postgres


@contextmanager
def _psycopg(tmp: Path) -> Iterator[Any]:
    with pg.postgres_store(tmp) as store:
        yield store


@contextmanager
def _data_api(tmp: Path) -> Iterator[Any]:
    with pg.data_api_store(tmp) as store:
        yield store


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch)


@pytest.fixture(params=[_psycopg, _data_api], ids=["psycopg", "data-api"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with request.param(tmp_path) as postgres:
        yield storage.CompositeStore(postgres, blobs=storage.open(f"file:///{tmp_path}/blobs"))


def test_prune_deletes_threads_with_their_attachments(store: Any, clock: Clock) -> None:
    seeded = seed_threads(store, clock)
    kept = lines_of(store, seeded.kept)
    store.prune(NOW, retention=RETENTION, batch_size=2)
    assert_threads_gone(store, seeded.expired)
    assert lines_of(store, seeded.kept) == kept


def test_blobs_left_by_a_failure_are_deleted_by_the_next_prune(store: Any, clock: Clock) -> None:
    seeded = seed_threads(store, clock)
    everything = lines_of(store, seeded.expired + seeded.kept)
    with raw.fail_blob_deletes_after(store, 1), pytest.raises(raw.InjectedFault):
        store.prune(NOW, retention=RETENTION, batch_size=2)
    _all_or_nothing(store, everything)
    pending = [line for line in raw.dump(store) if line.startswith("stowage_pending_blob_deletes")]
    assert len(pending) == 1  # the second thread's, recorded with its rows' delete
    store.prune(NOW, retention=RETENTION, batch_size=2)
    assert_threads_gone(store, seeded.expired)
    assert not [line for line in raw.dump(store) if "pending_blob" in line]


def test_delete_thread_leaves_no_pending_record(store: Any, clock: Clock) -> None:
    seeded = seed_threads(store, clock)
    store.memory.delete_thread(seeded.kept[0])
    assert raw.mentioning(store, seeded.kept[0]) == []
