"""Threads: create, read, list, sort, page, merge metadata, delete."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import storage
from tests.storage.conformance.helpers import (
    at,
    conversation,
    domain,
    ids,
    make_message,
    make_thread,
    new_thread,
    uid,
)


@pytest.fixture
def memory(store: Any) -> Any:
    return domain(store, "memory")


def test_saved_thread_reads_back_equal(memory: Any) -> None:
    thread = make_thread(title="Trip planning", metadata={"lang": "en", "n": 3, "tags": ["a"]})
    returned = memory.save_thread(thread)
    assert returned == thread
    assert memory.get_thread(thread.id) == thread


def test_missing_thread_is_none(memory: Any) -> None:
    assert memory.get_thread(uid("missing")) is None


def test_save_thread_replaces_an_existing_one(memory: Any) -> None:
    thread = new_thread(memory, title="old", metadata={"a": 1})
    replacement = make_thread(thread.resource_id, thread_id=thread.id, title="new", created=5)
    memory.save_thread(replacement)
    assert memory.get_thread(thread.id) == replacement


def test_save_thread_if_absent_creates_a_new_one(memory: Any) -> None:
    thread = make_thread(title="fresh", metadata={"k": 1})
    assert memory.save_thread(thread, if_absent=True) == thread
    assert memory.get_thread(thread.id) == thread


def test_save_thread_if_absent_refuses_an_existing_id_and_writes_nothing(memory: Any) -> None:
    # Given a thread with messages
    thread = new_thread(memory, title="kept", metadata={"a": 1})
    memory.save_messages([make_message(thread.id, "hi")])
    before = memory.get_thread(thread.id)
    # When a create with the same id arrives, for another resource
    intruder = make_thread(thread_id=thread.id, title="taken over", metadata={"b": 2})
    with pytest.raises(storage.ConflictError):
        memory.save_thread(intruder, if_absent=True)
    # Then the thread, its owner and its messages are as they were
    assert memory.get_thread(thread.id) == before
    assert memory.list_threads(resource_id=intruder.resource_id).total == 0
    assert memory.list_threads(resource_id=thread.resource_id).total == 1
    assert len(memory.list_messages(thread.id).items) == 1


def test_racing_creates_of_one_id_exactly_one_wins(memory: Any) -> None:
    thread_id, workers = uid("thread"), 8
    barrier = threading.Barrier(workers)
    won: list[str] = []
    lost: list[str] = []
    errors: list[BaseException] = []

    def create(worker: int) -> None:
        resource = f"res-{worker}"
        barrier.wait()
        try:
            memory.save_thread(make_thread(resource, thread_id=thread_id), if_absent=True)
            won.append(resource)
        except storage.ConflictError:
            lost.append(resource)
        except BaseException as exc:  # collected: any other error fails the test
            errors.append(exc)

    runners = [threading.Thread(target=create, args=(w,)) for w in range(workers)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    assert errors == []
    assert len(won) == 1 and len(lost) == workers - 1
    assert memory.get_thread(thread_id).resource_id == won[0]


def test_list_threads_by_resource(memory: Any) -> None:
    mine, other = uid("res"), uid("res")
    a = new_thread(memory, mine, created=1)
    b = new_thread(memory, mine, created=2)
    new_thread(memory, other, created=3)
    page = memory.list_threads(resource_id=mine)
    assert ids(page) == [b.id, a.id]
    assert page.total == 2
    assert page.has_more is False


def test_list_threads_pages_of_seven(memory: Any) -> None:
    resource = uid("res")
    for i in range(17):
        new_thread(memory, resource, created=i)
    pages = [memory.list_threads(resource_id=resource, page=p, per_page=7) for p in range(4)]
    assert [len(p.items) for p in pages] == [7, 7, 3, 0]
    assert [p.has_more for p in pages] == [True, True, False, False]
    assert all(p.total == 17 for p in pages)
    assert all(p.per_page == 7 for p in pages)
    seen = [t.id for p in pages for t in p.items]
    assert len(set(seen)) == 17


def test_list_threads_per_page_none_returns_all(memory: Any) -> None:
    resource = uid("res")
    for i in range(5):
        new_thread(memory, resource, created=i)
    page = memory.list_threads(resource_id=resource, per_page=None)
    assert len(page.items) == 5
    assert page.has_more is False
    assert page.per_page is None


@pytest.mark.parametrize("order_by", ["created_at", "updated_at"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_list_threads_sorting(memory: Any, order_by: str, direction: str) -> None:
    resource = uid("res")
    # created order and updated order disagree, so a wrong sort key is caught.
    threads = [
        new_thread(memory, resource, created=c, updated=u)
        for c, u in [(1, 40), (2, 10), (3, 30), (4, 20)]
    ]
    expected = sorted(threads, key=lambda t: getattr(t, order_by), reverse=direction == "desc")
    page = memory.list_threads(resource_id=resource, order_by=order_by, direction=direction)
    assert ids(page) == ids(expected)


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_list_threads_ties_broken_by_id(memory: Any, direction: str) -> None:
    resource = uid("res")
    names = ["t-c", "t-a", "t-d", "t-b"]
    tag = uid("tie")
    for name in names:
        new_thread(memory, resource, thread_id=f"{tag}-{name}", created=7)
    page = memory.list_threads(resource_id=resource, direction=direction)
    expected = sorted(f"{tag}-{n}" for n in names)
    assert ids(page) == (expected if direction == "asc" else expected[::-1])


def test_ties_page_without_gaps_or_repeats(memory: Any) -> None:
    resource = uid("res")
    for _ in range(9):
        new_thread(memory, resource, created=3)
    seen = [t.id for p in range(3) for t in memory.list_threads(
        resource_id=resource, page=p, per_page=4, order_by="updated_at").items]
    assert len(seen) == 9
    assert len(set(seen)) == 9


def test_update_thread_merges_metadata_key_by_key(memory: Any) -> None:
    thread = new_thread(memory, metadata={"a": 1, "b": {"x": 1}, "keep": "yes"})
    updated = memory.update_thread(thread.id, metadata={"a": 2, "b": {"y": 2}, "c": None})
    assert updated.metadata == {"a": 2, "b": {"y": 2}, "keep": "yes", "c": None}
    assert memory.get_thread(thread.id).metadata == updated.metadata


def test_update_thread_sets_title_and_bumps_updated_at(memory: Any) -> None:
    thread = new_thread(memory, title="before", created=0)
    updated = memory.update_thread(thread.id, title="after")
    stored = memory.get_thread(thread.id)
    assert stored.title == "after"
    assert stored.updated_at > at(0)
    assert stored.created_at == thread.created_at
    assert stored == updated


def test_update_thread_without_title_keeps_it(memory: Any) -> None:
    thread = new_thread(memory, title="keep me")
    memory.update_thread(thread.id, metadata={"k": 1})
    assert memory.get_thread(thread.id).title == "keep me"


def test_update_missing_thread_raises_not_found(memory: Any) -> None:
    missing = uid("missing")
    with pytest.raises(storage.NotFoundError):
        memory.update_thread(missing, title="x")
    assert memory.get_thread(missing) is None


def test_list_threads_metadata_filter(memory: Any) -> None:
    resource = uid("res")
    match = new_thread(memory, resource, created=1, metadata={"topic": "travel", "n": 1})
    new_thread(memory, resource, created=2, metadata={"topic": "food", "n": 1})
    new_thread(memory, resource, created=3, metadata={"n": 1})
    page = memory.list_threads(resource_id=resource, metadata={"topic": "travel", "n": 1})
    assert ids(page) == [match.id]
    assert page.total == 1


def test_list_threads_metadata_filter_without_resource(memory: Any) -> None:
    marker = uid("marker")
    a = new_thread(memory, created=1, metadata={"marker": marker})
    b = new_thread(memory, created=2, metadata={"marker": marker})
    new_thread(memory, created=3, metadata={"marker": uid("other")})
    assert ids(memory.list_threads(metadata={"marker": marker})) == [b.id, a.id]


def test_delete_thread_cascades_to_its_messages_only(memory: Any) -> None:
    doomed = new_thread(memory)
    kept = new_thread(memory, doomed.resource_id)
    gone = conversation(memory, doomed.id, 4)
    stay = conversation(memory, kept.id, 2)
    memory.delete_thread(doomed.id)
    assert memory.get_thread(doomed.id) is None
    assert memory.get_messages([m.id for m in gone]) == []
    assert memory.list_messages(doomed.id).total == 0
    assert ids(memory.get_messages([m.id for m in stay])) == [m.id for m in stay]
    assert ids(memory.list_threads(resource_id=doomed.resource_id)) == [kept.id]


def test_delete_missing_thread_is_a_no_op(memory: Any) -> None:
    memory.delete_thread(uid("missing"))


def test_unicode_title_and_metadata_round_trip(memory: Any) -> None:
    thread = new_thread(memory, title="Ünïcødé ✈️ 旅行 🧳", metadata={"note": "emoji 👩‍💻 and ñ"})
    stored = memory.get_thread(thread.id)
    assert stored.title == "Ünïcødé ✈️ 旅行 🧳"
    assert stored.metadata == {"note": "emoji 👩‍💻 and ñ"}
