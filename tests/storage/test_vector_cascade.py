"""Vectors kept in another store than the messages: the memory domain tells it.

``CompositeStore(memory=A, vectors=B)`` hands B to A (``attach_vectors``): A deletes
B's vectors after its own write commits. B then stores what it is given (it cannot see
A's messages), so these tests check the cascade, not the upsert-time message check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storage
from storage.records import Message, MessageUpdate, MessageVector, Thread
from tests.storage.conformance.helpers import at, content


@pytest.fixture(params=["memory", "sqlite"])
def split(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    memory = (
        storage.open("memory://")
        if request.param == "memory"
        else storage.open(f"sqlite:///{tmp_path / 'm.db'}")
    )
    vectors = storage.open(f"sqlite:///{tmp_path / 'v.db'}")
    if request.param == "sqlite":
        vectors = storage.open("memory://")
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
