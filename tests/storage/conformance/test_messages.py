"""Messages: save (upsert, move, all-or-nothing), list (paging, ranges, includes)."""

from __future__ import annotations

from typing import Any

import pytest

import storage
from storage import Include
from tests.storage.conformance.helpers import (
    at,
    conversation,
    domain,
    ids,
    make_message,
    new_thread,
    uid,
)


@pytest.fixture
def memory(store: Any) -> Any:
    return domain(store, "memory")


def test_saved_messages_read_back_equal(memory: Any) -> None:
    thread = new_thread(memory)
    message = make_message(thread.id, "hi there", created=1, resource_id=thread.resource_id)
    message.content["experimental_attachments"] = [
        {"name": "a.png", "contentType": "image/png", "url": "memory://blobs/x"}
    ]
    message.content["metadata"] = {"source": "test", "nested": {"k": [1, 2]}}
    assert memory.save_messages([message]) == [message]
    assert memory.get_messages([message.id]) == [message]
    assert memory.list_messages(thread.id).items == [message]


def test_message_without_resource_takes_its_threads(memory: Any) -> None:
    thread = new_thread(memory)
    saved = memory.save_messages([make_message(thread.id)])
    assert saved[0].resource_id == thread.resource_id
    assert memory.get_messages([saved[0].id])[0].resource_id == thread.resource_id


def test_save_is_an_upsert_by_id(memory: Any) -> None:
    thread = new_thread(memory)
    first = make_message(thread.id, "draft", created=1)
    memory.save_messages([first])
    memory.save_messages([make_message(thread.id, "final", message_id=first.id, created=1)])
    page = memory.list_messages(thread.id)
    assert page.total == 1
    assert page.items[0].text == "final"


def test_upsert_with_a_new_created_at_counts_once(memory: Any) -> None:
    thread = new_thread(memory)
    message = make_message(thread.id, "draft", created=1)
    memory.save_messages([message])
    memory.save_messages([make_message(thread.id, "final", message_id=message.id, created=2)])
    page = memory.list_messages(thread.id)
    assert (page.total, ids(page)) == (1, [message.id])
    assert page.items[0].created_at == at(2)
    assert memory.list_messages(thread.id, end=at(1)).total == 0


def test_same_id_in_another_thread_moves_the_message(memory: Any) -> None:
    a = new_thread(memory)
    b = new_thread(memory, a.resource_id)
    message = make_message(a.id, "moving", created=1)
    memory.save_messages([message])
    memory.save_messages([make_message(b.id, "moved", message_id=message.id, created=1)])
    assert memory.list_messages(a.id).total == 0
    assert ids(memory.list_messages(b.id)) == [message.id]
    assert memory.get_messages([message.id])[0].thread_id == b.id


def test_batch_with_a_missing_thread_writes_nothing(memory: Any) -> None:
    thread = new_thread(memory, created=0)
    good = make_message(thread.id, "ok")
    orphan = make_message(uid("missing-thread"), "lost")
    with pytest.raises(storage.NotFoundError):
        memory.save_messages([good, orphan])
    assert memory.get_messages([good.id, orphan.id]) == []
    assert memory.get_thread(thread.id).updated_at == at(0)


def test_batch_with_an_invalid_message_writes_nothing(memory: Any) -> None:
    thread = new_thread(memory, created=0)
    good = make_message(thread.id, "ok")
    bad = make_message(thread.id, "bad", role="robot")
    with pytest.raises(storage.ValidationError):
        memory.save_messages([good, bad])
    assert memory.get_messages([good.id]) == []
    assert memory.get_thread(thread.id).updated_at == at(0)


def test_failed_upsert_keeps_the_previous_version(memory: Any) -> None:
    thread = new_thread(memory)
    [original] = memory.save_messages([make_message(thread.id, "original")])
    with pytest.raises(storage.NotFoundError):
        memory.save_messages([
            make_message(thread.id, "changed", message_id=original.id),
            make_message(uid("missing-thread")),
        ])
    assert memory.get_messages([original.id]) == [original]


def test_save_bumps_updated_at_of_every_target_thread(memory: Any) -> None:
    a = new_thread(memory, created=0)
    b = new_thread(memory, a.resource_id, created=0)
    untouched = new_thread(memory, a.resource_id, created=0)
    memory.save_messages([make_message(a.id), make_message(b.id)])
    assert memory.get_thread(a.id).updated_at > at(0)
    assert memory.get_thread(b.id).updated_at > at(0)
    assert memory.get_thread(untouched.id).updated_at == at(0)
    assert memory.get_thread(a.id).created_at == at(0)


def test_list_messages_pages(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 10)
    first = memory.list_messages(thread.id, page=0, per_page=4)
    last = memory.list_messages(thread.id, page=2, per_page=4)
    assert ids(first) == ids(saved[:4])
    assert (first.total, first.has_more) == (10, True)
    assert ids(last) == ids(saved[8:])
    assert (last.total, last.has_more) == (10, False)


def test_list_messages_per_page_none_returns_all(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 45)
    page = memory.list_messages(thread.id, per_page=None)
    assert ids(page) == ids(saved)
    assert page.total == 45
    assert page.has_more is False


def test_list_messages_default_page_is_forty(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 45)
    page = memory.list_messages(thread.id)
    assert ids(page) == ids(saved[:40])
    assert page.has_more is True


def test_list_messages_per_page_zero_returns_only_includes(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 5)
    assert memory.list_messages(thread.id, per_page=0).items == []
    page = memory.list_messages(thread.id, per_page=0, include=[Include(saved[2].id)])
    assert ids(page) == [saved[2].id]
    assert page.total == 5


def test_list_messages_descending(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 6)
    page = memory.list_messages(thread.id, per_page=4, direction="desc")
    assert ids(page) == ids(saved[::-1][:4])
    second = memory.list_messages(thread.id, page=1, per_page=4, direction="desc")
    assert ids(second) == ids(saved[::-1][4:])


def test_equal_timestamps_sort_by_id(memory: Any) -> None:
    thread = new_thread(memory)
    tag = uid("same")
    names = [f"{tag}-{s}" for s in ("c", "a", "b")]
    memory.save_messages([make_message(thread.id, message_id=n, created=5) for n in names])
    assert ids(memory.list_messages(thread.id)) == sorted(names)
    assert ids(memory.list_messages(thread.id, direction="desc")) == sorted(names, reverse=True)


def test_date_range_is_inclusive_by_default(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 6, step=10)  # at 0, 10, ..., 50 s
    page = memory.list_messages(thread.id, start=at(10), end=at(30))
    assert ids(page) == ids(saved[1:4])
    assert page.total == 3


def test_date_range_exclusive_bounds(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 6, step=10)
    page = memory.list_messages(
        thread.id, start=at(10), end=at(40), start_exclusive=True, end_exclusive=True
    )
    assert ids(page) == ids(saved[2:4])
    only_start = memory.list_messages(thread.id, start=at(40), start_exclusive=True)
    assert ids(only_start) == ids(saved[5:])


def test_date_range_millisecond_boundary(memory: Any) -> None:
    thread = new_thread(memory)
    message = make_message(thread.id, created=1.234)
    memory.save_messages([message])
    assert memory.list_messages(thread.id, end=at(1.233)).total == 0
    assert memory.list_messages(thread.id, end=at(1.234)).total == 1
    assert memory.list_messages(thread.id, start=at(1.234), start_exclusive=True).total == 0


def test_list_messages_filters_by_resource(memory: Any) -> None:
    thread = new_thread(memory)
    own = make_message(thread.id, created=1)
    foreign = make_message(thread.id, created=2, resource_id=uid("other"))
    memory.save_messages([own, foreign])
    page = memory.list_messages(thread.id, resource_id=thread.resource_id)
    assert ids(page) == [own.id]
    assert page.total == 1


def test_include_adds_context_from_another_thread(memory: Any) -> None:
    a = new_thread(memory)
    b = new_thread(memory, a.resource_id)
    in_a = conversation(memory, a.id, 5, step=2)  # at 0, 2, 4, 6, 8
    in_b = conversation(memory, b.id, 5, step=2, offset=1)  # at 1, 3, 5, 7, 9
    page = memory.list_messages(
        a.id, per_page=2, include=[Include(in_b[2].id, with_previous=1, with_next=1)]
    )
    assert ids(page) == [in_a[0].id, in_a[1].id, in_b[1].id, in_b[2].id, in_b[3].id]
    assert page.total == 5
    assert page.has_more is True


def test_include_context_is_sorted_in_the_requested_direction(memory: Any) -> None:
    a = new_thread(memory)
    b = new_thread(memory, a.resource_id)
    in_a = conversation(memory, a.id, 3, step=2)
    in_b = conversation(memory, b.id, 3, step=2, offset=1)
    page = memory.list_messages(
        a.id, direction="desc", include=[Include(in_b[0].id, with_next=1)]
    )
    assert ids(page) == [in_a[2].id, in_b[1].id, in_a[1].id, in_b[0].id, in_a[0].id]


def test_include_windows_stop_at_thread_edges(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 6)
    page = memory.list_messages(
        thread.id, per_page=0, include=[Include(saved[1].id, with_previous=5, with_next=1)]
    )
    assert ids(page) == ids(saved[0:3])
    page = memory.list_messages(
        thread.id, per_page=0, include=[Include(saved[5].id, with_previous=1, with_next=9)]
    )
    assert ids(page) == ids(saved[4:6])


def test_includes_are_deduplicated(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 6)
    page = memory.list_messages(
        thread.id,
        per_page=3,
        include=[
            Include(saved[2].id, with_next=2),
            Include(saved[3].id, with_previous=1),
            Include(saved[0].id),
        ],
    )
    assert ids(page) == ids(saved[:5])


def test_unknown_include_is_ignored(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 2)
    page = memory.list_messages(thread.id, include=[Include(uid("nope"), with_previous=3)])
    assert ids(page) == ids(saved)
    assert page.total == 2


def test_include_ignores_the_date_range_filter(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 4, step=10)
    page = memory.list_messages(thread.id, start=at(25), include=[Include(saved[0].id)])
    assert ids(page) == [saved[0].id, saved[3].id]
    assert page.total == 1


def test_a_resource_bounds_include_windows_to_its_own_messages(memory: Any) -> None:
    # Given Alice's thread and Bob's thread (another resource)
    alice = new_thread(memory)
    bob = new_thread(memory)
    mine = conversation(memory, alice.id, 3, step=2)
    theirs = conversation(memory, bob.id, 7, step=2, offset=1)
    # When Alice lists her thread, bounded to her resource, including Bob's message
    page = memory.list_messages(
        alice.id,
        resource_id=alice.resource_id,
        include=[Include(theirs[3].id, with_previous=5, with_next=5)],
    )
    # Then nothing of Bob's comes back: the include is ignored like an unknown id
    assert ids(page) == ids(mine)
    assert page.total == 3
    page = memory.list_messages(
        alice.id, resource_id=alice.resource_id, per_page=0,
        include=[Include(theirs[0].id, with_next=6)],
    )
    assert page.items == []
    # And without a resource the include still reads any thread (trusted server code)
    unbounded = memory.list_messages(alice.id, per_page=0, include=[Include(theirs[3].id)])
    assert ids(unbounded) == [theirs[3].id]


def test_a_resource_still_includes_its_other_threads(memory: Any) -> None:
    a = new_thread(memory)
    b = new_thread(memory, a.resource_id)
    conversation(memory, a.id, 2, step=2)
    in_b = conversation(memory, b.id, 5, step=2, offset=1)
    page = memory.list_messages(
        a.id, resource_id=a.resource_id, per_page=0,
        include=[Include(in_b[2].id, with_previous=1, with_next=1)],
    )
    assert ids(page) == ids(in_b[1:4])


def test_a_resource_drops_other_resources_messages_inside_a_window(memory: Any) -> None:
    # A thread holding a message of another resource (only trusted code can do this)
    thread = new_thread(memory)
    before = make_message(thread.id, "before", created=1)
    foreign = make_message(thread.id, "foreign", created=2, resource_id=uid("other"))
    after = make_message(thread.id, "after", created=3)
    memory.save_messages([before, foreign, after])
    page = memory.list_messages(
        thread.id, resource_id=thread.resource_id, per_page=0,
        include=[Include(before.id, with_next=2)],
    )
    assert ids(page) == [before.id, after.id]
    page = memory.list_messages(
        thread.id, resource_id=thread.resource_id, per_page=0,
        include=[Include(foreign.id, with_previous=1, with_next=1)],
    )
    assert page.items == []


def test_a_lone_include_counts_as_a_list_of_one(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 3)
    page = memory.list_messages(thread.id, per_page=0, include=Include(saved[1].id, with_next=1))
    assert ids(page) == ids(saved[1:3])


def test_list_messages_of_unknown_thread_is_empty(memory: Any) -> None:
    page = memory.list_messages(uid("missing"))
    assert page.items == []
    assert page.total == 0
    assert page.has_more is False


def test_empty_thread_id_is_rejected(memory: Any) -> None:
    for bad in ("", "   "):
        with pytest.raises(storage.ValidationError):
            memory.list_messages(bad)


def test_get_messages_in_order_asked_skipping_unknown(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 3)
    got = memory.get_messages([saved[2].id, uid("unknown"), saved[0].id])
    assert ids(got) == [saved[2].id, saved[0].id]
    assert memory.get_messages([]) == []


def test_batch_naming_one_id_twice_stores_the_last(memory: Any) -> None:
    thread = new_thread(memory)
    other = new_thread(memory, thread.resource_id)
    mid = uid("dup")
    memory.save_messages([
        make_message(thread.id, "first", message_id=mid, created=1),
        make_message(other.id, "second", message_id=mid, created=2),
    ])
    [stored] = memory.get_messages([mid])
    assert (stored.thread_id, stored.text, stored.created_at) == (other.id, "second", at(2))
    assert memory.list_messages(thread.id).total == 0



def test_superseded_save_to_a_missing_thread_still_refuses_the_batch(memory: Any) -> None:
    thread = new_thread(memory)
    mid = uid("dup")
    with pytest.raises(storage.NotFoundError):
        memory.save_messages([
            make_message(uid("missing-thread"), message_id=mid),
            make_message(thread.id, message_id=mid),
        ])
    assert memory.get_messages([mid]) == []
