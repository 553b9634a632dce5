"""``save_messages(..., allow_move=False)``: an id of another thread refuses the whole save.

Code acting for a client saves with ``allow_move=False``: a request may only create or
change messages in the thread it names. The refusal is part of the write itself, so
it holds when two saves race for one id; the default (moves allowed) is unchanged.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import storage
from tests.storage.conformance.helpers import (
    at,
    domain,
    ids,
    make_message,
    new_thread,
    uid,
)


@pytest.fixture
def memory(store: Any) -> Any:
    return domain(store, "memory")


def test_an_id_of_another_thread_is_refused_and_nothing_is_written(memory: Any) -> None:
    # Given Bob's question in his thread
    bob = new_thread(memory, uid("bob"), created=0)
    alice = new_thread(memory, uid("alice"), created=0)
    [question] = memory.save_messages([make_message(bob.id, "bob asks", created=1)])
    bob = memory.get_thread(bob.id)
    # When Alice's turn reuses its id
    answer = make_message(alice.id, "answer", created=3, role="assistant")
    with pytest.raises(storage.MessageIdConflictError) as refused:
        memory.save_messages(
            [make_message(alice.id, "alice asks", message_id=question.id, created=2), answer],
            allow_move=False,
        )
    # Then nothing moved, nothing was added, no thread was bumped
    assert memory.get_messages([question.id, answer.id]) == [question]
    assert ids(memory.list_messages(bob.id)) == [question.id]
    assert memory.list_messages(alice.id).total == 0
    assert memory.get_thread(alice.id).updated_at == at(0)
    assert memory.get_thread(bob.id).updated_at == bob.updated_at
    # and the refusal says nothing about where the id lives
    message = str(refused.value)
    assert bob.id not in message and bob.resource_id not in message
    assert isinstance(refused.value, storage.ConflictError)


def test_an_id_of_another_thread_of_the_same_resource_is_refused_too(memory: Any) -> None:
    a = new_thread(memory)
    b = new_thread(memory, a.resource_id)
    [message] = memory.save_messages([make_message(a.id, "in a", created=1)])
    with pytest.raises(storage.MessageIdConflictError):
        memory.save_messages([make_message(b.id, "to b", message_id=message.id, created=1)],
                             allow_move=False)
    assert memory.get_messages([message.id]) == [message]


def test_the_same_thread_is_still_an_upsert(memory: Any) -> None:
    thread = new_thread(memory)
    [first] = memory.save_messages([make_message(thread.id, "draft", created=1)],
                                   allow_move=False)
    memory.save_messages([make_message(thread.id, "final", message_id=first.id, created=2)],
                         allow_move=False)
    page = memory.list_messages(thread.id)
    assert (page.total, ids(page)) == (1, [first.id])
    assert (page.items[0].text, page.items[0].created_at) == ("final", at(2))


def test_a_batch_naming_one_id_in_two_threads_is_refused(memory: Any) -> None:
    a = new_thread(memory)
    b = new_thread(memory, a.resource_id)
    mid = uid("dup")
    with pytest.raises(storage.MessageIdConflictError):
        memory.save_messages([
            make_message(a.id, "first", message_id=mid, created=1),
            make_message(b.id, "second", message_id=mid, created=2),
        ], allow_move=False)
    assert memory.get_messages([mid]) == []


def test_moves_stay_the_default(memory: Any) -> None:
    a = new_thread(memory)
    b = new_thread(memory, a.resource_id)
    [message] = memory.save_messages([make_message(a.id, "moving", created=1)])
    memory.save_messages([make_message(b.id, "moved", message_id=message.id, created=1)],
                         allow_move=True)
    assert memory.get_messages([message.id])[0].thread_id == b.id


def test_a_missing_thread_is_still_not_found(memory: Any) -> None:
    with pytest.raises(storage.NotFoundError):
        memory.save_messages([make_message(uid("missing-thread"))], allow_move=False)


RACES = 6


def _race(memory: Any, batches: dict[str, list[Any]]) -> dict[str, str]:
    """Save each batch on its own thread, released together; ``saved`` or ``refused``."""
    barrier = threading.Barrier(len(batches))
    outcomes: dict[str, str] = {}

    def save(thread_id: str) -> None:
        barrier.wait()
        try:
            memory.save_messages(batches[thread_id], allow_move=False)
            outcomes[thread_id] = "saved"
        except storage.MessageIdConflictError:
            outcomes[thread_id] = "refused"

    workers = [threading.Thread(target=save, args=(t,)) for t in batches]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


def test_racing_saves_of_one_new_id_in_two_threads_keep_one_whole_turn(memory: Any) -> None:
    """Two turns race with one new id: exactly one is stored whole, the other not at all."""
    for _ in range(RACES):
        a = new_thread(memory)
        b = new_thread(memory, uid("other"))
        mid = uid("race")
        batches = {
            thread.id: [make_message(thread.id, "q", message_id=mid, created=1),
                        make_message(thread.id, "a", created=2, role="assistant")]
            for thread in (a, b)
        }
        outcomes = _race(memory, batches)
        assert sorted(outcomes.values()) == ["refused", "saved"], outcomes
        for thread_id, batch in batches.items():
            stored = memory.list_messages(thread_id)
            expected = [m.id for m in batch] if outcomes[thread_id] == "saved" else []
            assert (ids(stored), stored.total) == (expected, len(expected))
