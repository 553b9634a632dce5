"""Vectors kept in another store than the messages: the memory domain tells it.

``CompositeStore(memory=A, vectors=B)`` hands B to A (``attach_vectors``): A deletes
B's vectors after its own write commits. B then stores what it is given (it cannot see
A's messages), so these tests check the cascade, not the upsert-time message check.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import storage
from storage.records import Message, MessageUpdate, MessageVector, Thread
from tests.storage.conformance.helpers import at, content


@contextmanager
def _memory(tmp: Path) -> Iterator[Any]:
    yield storage.open("memory://")


@contextmanager
def _sqlite(tmp: Path) -> Iterator[Any]:
    yield storage.open(f"sqlite:///{tmp / 'own.db'}")


@contextmanager
def _dynamodb(tmp: Path) -> Iterator[Any]:
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb() as (store, _):
        yield store


@contextmanager
def _data_api(tmp: Path) -> Iterator[Any]:
    # Memory on PostgreSQL 15 (no pgvector) over the Data API fake.
    from tests.storage.fakes.pg import data_api_store

    with data_api_store(tmp) as store:
        yield store


@contextmanager
def _pgvector_data_api(tmp: Path) -> Iterator[Any]:
    # Vectors on Aurora-like pgvector over the Data API: the AWS shape with memory on
    # DynamoDB and semantic recall on Aurora.
    from tests.storage.fakes.pgvector import pgvector_data_api_store

    with pgvector_data_api_store(tmp) as store:
        yield store


SPLITS = {
    "memory>sqlite": (_memory, _sqlite, ()),
    "sqlite>memory": (_sqlite, _memory, ()),
    "dynamodb>memory": (_dynamodb, _memory, ()),
    "data-api>memory": (_data_api, _memory, (pytest.mark.postgres,)),
    "dynamodb>pgvector-data-api": (_dynamodb, _pgvector_data_api, (pytest.mark.postgres,)),
}


@pytest.fixture(params=[pytest.param(k, id=k, marks=v[2]) for k, v in SPLITS.items()])
def split(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Messages in one store (the name's left side), their vectors in another."""
    open_memory, open_vectors, _ = SPLITS[request.param]
    (tmp_path / "m").mkdir()
    (tmp_path / "v").mkdir()
    with open_memory(tmp_path / "m") as memory, open_vectors(tmp_path / "v") as vectors:
        composite = storage.CompositeStore(memory, vectors=vectors)
        composite.setup()
        composite.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
        composite.memory.save_thread(Thread(id="t-2", resource_id="u-1"))
        saved = composite.memory.save_messages(
            [
                Message(id=f"m-{i}", thread_id="t-1" if i < 4 else "t-2", role="user",
                        content=content(f"text {i}"), created_at=at(i))
                for i in range(6)
            ]
        )
        composite.vectors.upsert(
            [
                MessageVector(message_id=m.id, thread_id=m.thread_id, resource_id="u-1",
                              created_at=m.created_at, vector=(1.0, float(i)), embedder="e")
                for i, m in enumerate(saved)
            ]
        )
        yield composite
        composite.close()


def _left(store: Any) -> list[str]:
    found = store.vectors.search((1.0, 1.0), embedder="e", resource_id="u-1", top_k=100)
    return sorted(m.message_id for m in found)


def test_the_vectors_live_in_the_other_store(split: Any) -> None:
    assert split.vectors is not None and _left(split) == [f"m-{i}" for i in range(6)]
    assert type(split.vectors).__module__ != type(split.memory).__module__


def test_deletes_and_edits_reach_the_other_store(split: Any) -> None:
    split.memory.delete_messages(["m-0"])
    split.memory.update_messages([MessageUpdate(id="m-1", content=content("edited"))])
    split.memory.update_messages([MessageUpdate(id="m-2", role="assistant")])
    split.memory.delete_thread("t-2")
    assert _left(split) == ["m-2", "m-3"]


def test_a_re_save_that_changes_a_message_reaches_the_other_store(split: Any) -> None:
    # save_messages is an upsert: writing m-1 again with other text (or in another
    # thread) makes its vector stale, so it goes, as an edit's does.
    m1, m4 = split.memory.get_messages(["m-1", "m-4"])
    split.memory.save_messages([replace(m1, content=content("rewritten"))])
    split.memory.save_messages([replace(m4, thread_id="t-1")])

    assert _left(split) == ["m-0", "m-2", "m-3", "m-5"]
    # Only the vectors went: the messages are there, as saved.
    assert split.memory.get_messages(["m-1"])[0].content == content("rewritten")


def test_saving_new_messages_does_not_touch_the_other_store(
    split: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deletes: list[list[str]] = []
    monkeypatch.setattr(split.vectors, "delete", deletes.append)

    split.memory.save_messages([
        Message(id="m-new", thread_id="t-1", role="user", content=content("new"),
                created_at=at(50))
    ])

    assert deletes == []
    monkeypatch.undo()
    assert _left(split) == [f"m-{i}" for i in range(6)]
