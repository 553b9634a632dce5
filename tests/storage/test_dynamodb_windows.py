"""DynamoDB include windows: exact under every kind of write, and cheap when they can be.

The windows semantic recall reads come from the neighbour lists on embedded message
items (``storage/dynamodb/neighbours.py``) and the batched reader
(``storage/dynamodb/windows.py``). These tests hold both to the memory:// reference
under random writes (saves in and out of order, equal timestamps, re-saves, edits,
moves, deletes, deletions nobody counted, embed jobs, searches), then pin the request
counts of the paths a turn takes and the races the design names.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

import storage
import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (installs the SearchVectors fake)
from storage.dynamodb import neighbours
from storage.dynamodb.codec import s, sort_key
from storage.dynamodb.keys import locator_key
from storage.dynamodb.store import DynamoDBStore
from storage.dynamodb.windows import Hint
from storage.records import Include, Message, MessageUpdate, MessageVector, Thread
from tests.storage.conformance.helpers import at, content
from tests.storage.dynamodb_support import RequestLog, moto_dynamodb

DIMS = 4


@pytest.fixture
def dyn() -> Iterator[tuple[Any, RequestLog]]:
    with moto_dynamodb(vector_dimensions=DIMS) as opened:
        yield opened


def _key(message: Message) -> dict[str, Any]:
    return {"pk": s(f"THREAD#{message.thread_id}"),
            "sk": s("MSG#" + sort_key(message.created_at, message.id))}


def _vector(rng: random.Random) -> tuple[float, ...]:
    return (1.0 + rng.random(), rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1))


def _embed(stores: list[Any], messages: list[Message], rng: random.Random) -> None:
    """What the embed job does: vectors of stored messages, upserted."""
    records = [MessageVector(m.id, m.thread_id, m.resource_id or "", m.created_at,
                             _vector(rng), "e") for m in messages]
    for store in stores:
        store.vectors.upsert(records)


def _ids(messages: list[Message]) -> list[str]:
    return [m.id for m in messages]


class World:
    """The same writes on DynamoDB and on the memory:// reference."""

    def __init__(self, dynamo: Any, rng: random.Random) -> None:
        self.dyn = dynamo
        self.ref = storage.open("memory://")
        self.ref.setup()
        self.rng = rng
        self.clock = 0
        self.serial = 0
        self.uncounted = False
        self.threads = {"t-a": "u-1", "t-b": "u-1", "t-c": "u-2"}
        for thread, resource in self.threads.items():
            for store in (self.dyn, self.ref):
                store.memory.save_thread(Thread(id=thread, resource_id=resource))

    @property
    def stores(self) -> list[Any]:
        return [self.dyn, self.ref]

    def messages(self) -> list[Message]:
        return [m for t in self.threads
                for m in self.ref.memory.list_messages(t, per_page=None).items]

    def new_messages(self) -> list[Message]:
        thread = self.rng.choice(list(self.threads))
        out = []
        for _ in range(self.rng.randint(1, 3)):
            self.serial += 1
            roll = self.rng.random()
            if roll < 0.15 and self.clock > 3:
                when = self.rng.randint(0, self.clock)  # out of order (or an equal time)
            elif roll < 0.25:
                when = self.clock  # the same millisecond as the last one
            else:
                self.clock += 1
                when = self.clock
            resource = "u-2" if self.rng.random() < 0.05 else self.threads[thread]
            out.append(Message(id=f"m{self.serial:03d}", thread_id=thread, role="user",
                               content=content(f"text {self.serial}"), created_at=at(when),
                               resource_id=resource))
        return out

    def step(self) -> None:
        rng, existing = self.rng, self.messages()
        roll = rng.random()
        if roll < 0.45 or not existing:
            batch = self.new_messages()
            for store in self.stores:
                saved = store.memory.save_messages(batch)
            if rng.random() < 0.8:
                _embed(self.stores, saved, rng)  # the job ran (or has not yet)
        elif roll < 0.55:
            picked = rng.sample(existing, min(len(existing), 2))
            for store in self.stores:  # a re-save (drops the vector and lists on DynamoDB)
                store.memory.save_messages(picked)
        elif roll < 0.62:
            target = rng.choice(existing)
            for store in self.stores:
                store.memory.update_messages([MessageUpdate(target.id, content=content("edit"))])
        elif roll < 0.69:
            target = rng.choice(existing)
            to = rng.choice(list(self.threads))
            for store in self.stores:
                store.memory.update_messages([MessageUpdate(target.id, thread_id=to)])
        elif roll < 0.77:
            gone = [m.id for m in rng.sample(existing, min(len(existing), 2))]
            for store in self.stores:
                store.memory.delete_messages(gone)
        elif roll < 0.80:
            # A deletion nobody counts (DynamoDB's TTL): the item and its locator go, the
            # thread's counters do not move.
            target = rng.choice(existing)
            self.dyn.dynamo.call("DeleteItem", TableName=self.dyn.vectors.table,
                                 Key=_key(target))
            self.dyn.dynamo.call("DeleteItem", TableName=self.dyn.vectors.table,
                                 Key=locator_key(target.id))
            self.ref.memory.delete_messages([target.id])
            self.uncounted = True
        else:
            embedded = rng.sample(existing, min(len(existing), rng.randint(1, 6)))
            _embed(self.stores, embedded, rng)

    def check(self) -> None:
        rng, existing = self.rng, self.messages()
        if not existing:
            return
        if rng.random() < 0.7:  # most reads follow a search, as in a turn
            self.dyn.vectors.search(_vector(rng), embedder="e", resource_id="u-1",
                                    top_k=rng.randint(1, 8))
        picks = rng.sample(existing, min(len(existing), rng.randint(1, 5)))
        includes = [Include(m.id, with_previous=rng.randint(0, 3), with_next=rng.randint(0, 3))
                    for m in picks] + [Include("never-saved", with_previous=1)]
        for resource in (None, "u-1"):
            got = self.dyn.memory.get_windows(includes, resource_id=resource)
            want = self.ref.memory.get_windows(includes, resource_id=resource)
            assert _ids(got) == _ids(want), (includes, resource)
            assert got == want
        page = self.dyn.memory.list_messages("t-a", include=includes, per_page=0)
        expected = self.ref.memory.list_messages("t-a", include=includes, per_page=0)
        assert _ids(page.items) == _ids(expected.items)
        if not self.uncounted:  # the thread's message_count does not see a TTL deletion
            assert page.total == expected.total
        counted = self.dyn.memory.list_messages("t-a", resource_id="u-1", per_page=0)
        assert counted.total == self.ref.memory.list_messages(
            "t-a", resource_id="u-1", per_page=0).total


@pytest.mark.parametrize("seed", range(4))
def test_windows_equal_the_reference_under_random_writes(dyn: Any, seed: int) -> None:
    store, _ = dyn
    world = World(store, random.Random(seed))
    for _ in range(70):
        world.step()
        world.check()


# --- what a turn's read costs ------------------------------------------------------------


def _thread(store: Any, thread: str, count: int, start: int = 0,
            resource: str = "u-1", tag: str = "") -> list[Message]:
    if store.memory.get_thread(thread) is None:
        store.memory.save_thread(Thread(id=thread, resource_id=resource))
    return store.memory.save_messages([
        Message(id=f"{thread}-{tag}{i:02d}", thread_id=thread, role="user",
                content=content(f"{thread} {i}"), created_at=at(start + i))
        for i in range(count)
    ])


def _embedded(store: Any, messages: list[Message]) -> None:
    """The embed job's upsert (each message's vector drawn from its id)."""
    store.vectors.upsert([
        MessageVector(m.id, m.thread_id, m.resource_id or "", m.created_at,
                      _vector(random.Random(m.id)), "e")
        for m in messages
    ])


QUERY = (1.0, 0.3, -0.2, 0.7)


def _three_threads(store: Any) -> dict[str, list[Message]]:
    threads = {t: _thread(store, t, 20, start=100 * n) for n, t in enumerate(("t1", "t2", "t3"))}
    for messages in threads.values():
        for start in range(0, 20, 2):  # a turn at a time, as the embed job does
            _embedded(store, messages[start:start + 2])
    return threads


@pytest.mark.parametrize(("top_k", "message_range"), [(4, 1), (3, 2)])
def test_the_windows_of_a_searchs_matches_are_one_batch_get(
    dyn: Any, top_k: int, message_range: int
) -> None:
    store, log = dyn
    _three_threads(store)
    matches = store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=top_k)
    assert len({m.thread_id for m in matches}) > 1
    includes = [Include(m.message_id, with_previous=message_range, with_next=message_range)
                for m in matches]
    log.reset()

    got = store.memory.get_windows(includes, resource_id="u-1")

    assert log.calls == {"dynamodb.BatchGetItem": 1}
    reference = storage.open("memory://")
    for thread in ("t1", "t2", "t3"):
        reference.memory.save_thread(Thread(id=thread, resource_id="u-1"))
        reference.memory.save_messages(store.memory.list_messages(thread, per_page=None).items)
    assert got == reference.memory.get_windows(includes, resource_id="u-1")
    assert len(got) > top_k  # the neighbours came too


def test_without_hints_the_windows_cost_three_batch_gets(dyn: Any) -> None:
    store, _ = dyn
    _three_threads(store)
    fresh = DynamoDBStore(store.prefix, region="us-east-1", vector_dimensions=DIMS)
    log = RequestLog()
    log.attach(fresh.dynamo.client)
    includes = [Include(f"t{n}-10", with_previous=2, with_next=2) for n in (1, 2, 3)]

    got = fresh.memory.get_windows(includes, resource_id="u-1")

    # the locators, the included items with their thread items, then their neighbours
    assert log.calls == {"dynamodb.BatchGetItem": 3}
    assert _ids(got) == [f"t{n}-{i:02d}" for n in (1, 2, 3) for i in range(8, 13)]


def test_a_thread_appended_to_since_its_job_costs_one_query(dyn: Any) -> None:
    # A turn was saved and its embed job has not run: the thread's lists are exact up to
    # the certified tail, and one Query of its newest messages proves that nothing else
    # changed. A window reaching the old tail goes on into the appended messages.
    store, log = dyn
    _three_threads(store)
    turn = _thread(store, "t2", 2, start=150, tag="new")
    store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=100)
    includes = [Include(f"t{n}-{i:02d}", with_previous=1, with_next=1)
                for n in (1, 2, 3) for i in (4, 12)]
    includes.append(Include("t2-19", with_previous=2, with_next=2))
    log.reset()

    got = store.memory.get_windows(includes, resource_id="u-1")

    assert log.calls == {"dynamodb.BatchGetItem": 1, "dynamodb.Query": 1}
    windows = {n: [f"t{n}-{i:02d}" for i in (3, 4, 5, 11, 12, 13)] for n in (1, 2, 3)}
    assert _ids(got) == [*windows[1], *windows[2], "t2-17", "t2-18", "t2-19",
                         *_ids(turn), *windows[3]]

    # The job certifies the thread again: no Query (after a search, as in a turn: the
    # hints from before the job name t2-19's old next list).
    _embedded(store, turn)
    store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=100)
    log.reset()
    assert store.memory.get_windows(includes, resource_id="u-1") == got
    assert log.calls == {"dynamodb.BatchGetItem": 1}


@pytest.mark.parametrize("change", ["inserted earlier", "deleted"])
def test_an_uncertified_thread_falls_back_to_two_queries_per_window(
    dyn: Any, change: str
) -> None:
    store, log = dyn
    threads = _three_threads(store)
    if change == "deleted":
        store.memory.delete_messages(["t2-00"])
    else:
        store.memory.save_messages([Message(id="t2-early", thread_id="t2", role="user",
                                            content=content("early"), created_at=at(99))])
    store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=100)
    includes = [Include(f"t{n}-{i:02d}", with_previous=1, with_next=1)
                for n in (1, 2, 3) for i in (4, 12)]
    log.reset()

    got = store.memory.get_windows(includes, resource_id="u-1")

    # t2's two windows, two Queries each (and, when one message was added, one Query
    # to see whether it came after the certified tail: it did not)
    queries = 4 + (change == "inserted earlier")
    assert log.calls == {"dynamodb.BatchGetItem": 1, "dynamodb.Query": queries}
    assert _ids(got) == [m.id for n in (1, 2, 3) for m in threads[f"t{n}"]
                         if int(m.id[-2:]) in (3, 4, 5, 11, 12, 13)]


def test_a_range_over_two_takes_the_queries(dyn: Any) -> None:
    store, log = dyn
    threads = _three_threads(store)
    store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=100)
    log.reset()
    got = store.memory.get_windows([Include("t2-10", with_previous=3, with_next=2),
                                    Include("t3-10", with_previous=2, with_next=2)])
    assert log.calls == {"dynamodb.BatchGetItem": 1, "dynamodb.Query": 2}
    assert _ids(got) == _ids(threads["t2"][7:13]) + _ids(threads["t3"][8:13])


def test_a_stale_projection_costs_one_more_batch_get_never_a_wrong_window(dyn: Any) -> None:
    # The vector index is updated asynchronously: a search can return lists older than
    # the item's. The reader trusts the item's own lists (read strongly consistent).
    store, log = dyn
    messages = _thread(store, "t1", 10)
    _embedded(store, messages)
    target = messages[5]
    store.vectors.hints.note(target.id, Hint(  # what a lagging index would say
        "t1", "MSG#" + sort_key(target.created_at, target.id),
        ("MSG#" + sort_key(messages[1].created_at, messages[1].id),), ()))
    log.reset()

    got = store.memory.get_windows([Include(target.id, with_previous=2, with_next=2)])

    assert log.calls == {"dynamodb.BatchGetItem": 2}
    assert _ids(got) == _ids(messages[3:8])


def test_a_wrong_hint_is_looked_up_again(dyn: Any) -> None:
    store, _ = dyn
    messages = _thread(store, "t1", 6)
    _embedded(store, messages)
    store.vectors.hints.note(messages[2].id, Hint("t1", "MSG#0#elsewhere"))
    got = store.memory.get_windows([Include(messages[2].id, with_previous=1, with_next=1)])
    assert _ids(got) == _ids(messages[1:4])
    assert store.vectors.hints.get(messages[2].id) is None


def test_per_page_zero_with_a_resource_counts_without_reading_messages(dyn: Any) -> None:
    store, log = dyn
    messages = _thread(store, "t1", 12)
    store.memory.save_messages([Message(id="foreign", thread_id="t1", role="user",
                                        content=content("x"), created_at=at(50),
                                        resource_id="u-9")])
    _embedded(store, messages)
    log.reset()

    page = store.memory.list_messages("t1", resource_id="u-1", per_page=0,
                                      include=[Include(messages[4].id, with_next=1)])

    assert page.total == 12
    assert _ids(page.items) == _ids(messages[4:6])
    assert log.calls["dynamodb.Query"] == 1  # Select=COUNT: no message read back
    bounded = store.memory.list_messages("t1", resource_id="u-1", per_page=0,
                                         start=at(3), end=at(7), start_exclusive=True)
    assert bounded.total == 4


# --- keeping the lists exact: the upsert ---------------------------------------------------


def test_a_turn_in_a_long_certified_thread_reads_one_page_and_writes_what_changed(
    dyn: Any
) -> None:
    store, log = dyn
    messages = _thread(store, "t1", 60)
    _embedded(store, messages)
    turn = _thread(store, "t1", 2, start=100, tag="new")
    log.reset()

    _embedded(store, turn)

    assert log.calls == {"dynamodb.Query": 1, "dynamodb.TransactWriteItems": 1}
    thread = store.dynamo.get(store.vectors.table, {"pk": s("THREAD#t1"), "sk": s("THREAD")})
    assert neighbours.certified(thread)
    last = store.dynamo.get(store.vectors.table, _key(messages[-1]))
    assert neighbours.lists_of(last) == (
        ("MSG#" + sort_key(messages[-2].created_at, messages[-2].id),
         "MSG#" + sort_key(messages[-3].created_at, messages[-3].id)),
        tuple("MSG#" + sort_key(m.created_at, m.id) for m in turn),
    )


def test_a_message_saved_out_of_order_makes_the_job_repair_the_lists(dyn: Any) -> None:
    store, log = dyn
    messages = _thread(store, "t1", 30)
    _embedded(store, messages)
    late = store.memory.save_messages([Message(id="late", thread_id="t1", role="user",
                                               content=content("late"),
                                               created_at=at(10.5))])
    log.reset()
    _embedded(store, late)
    # Not an append after the certified tail: the whole thread is read (two pages).
    assert log.calls == {"dynamodb.Query": 2, "dynamodb.TransactWriteItems": 1}

    store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=100)
    log.reset()
    got = store.memory.get_windows([Include(messages[9].id, with_next=2)])
    assert _ids(got) == [messages[9].id, messages[10].id, "late"]
    got = store.memory.get_windows([Include(messages[11].id, with_previous=2, with_next=1)])
    assert _ids(got) == [messages[10].id, "late", messages[11].id, messages[12].id]
    assert log.calls == {"dynamodb.BatchGetItem": 2}  # one each


def test_a_save_racing_the_job_cancels_its_write_and_it_reads_again(dyn: Any) -> None:
    store, log = dyn
    messages = _thread(store, "t1", 8)
    _embedded(store, messages[:6])
    other = DynamoDBStore(store.prefix, region="us-east-1", vector_dimensions=DIMS)
    fired: list[bool] = []

    def racing_save(**_: Any) -> None:
        if not fired:
            fired.append(True)  # lands between the job's read and its transaction
            other.memory.save_messages([Message(id="racer", thread_id="t1", role="user",
                                                content=content("r"), created_at=at(6.5))])

    store.dynamo.client.meta.events.register(
        "before-call.dynamodb.TransactWriteItems", racing_save)
    log.reset()

    _embedded(store, messages[6:])

    assert log.calls["dynamodb.TransactWriteItems"] == 2  # cancelled once, then written
    thread = store.dynamo.get(store.vectors.table, {"pk": s("THREAD#t1"), "sk": s("THREAD")})
    assert neighbours.certified(thread)
    lists = neighbours.lists_of(store.dynamo.get(store.vectors.table, _key(messages[6])) or {})
    assert lists is not None and [k.rsplit("#", 1)[1] for k in lists[1]] == ["racer", "t1-07"]
    lists = neighbours.lists_of(store.dynamo.get(store.vectors.table, _key(messages[7])) or {})
    assert lists is not None and [k.rsplit("#", 1)[1] for k in lists[0]] == ["racer", "t1-06"]


def test_a_resaved_message_keeps_its_lists_and_the_windows_stay_exact(dyn: Any) -> None:
    store, _ = dyn
    messages = _thread(store, "t1", 8)
    _embedded(store, messages)
    store.memory.save_messages([messages[4]])  # rewritten in place, same text: all kept
    item = store.dynamo.get(store.vectors.table, _key(messages[4]))
    assert item is not None and neighbours.lists_of(item) is not None and "vec" in item
    store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=8)
    got = store.memory.get_windows([Include(messages[3].id, with_next=2),
                                    Include(messages[4].id, with_previous=1)])
    assert _ids(got) == _ids(messages[3:6])


def test_a_rewritten_message_loses_its_lists_and_the_windows_stay_exact(dyn: Any) -> None:
    store, _ = dyn
    messages = _thread(store, "t1", 8)
    _embedded(store, messages)
    store.memory.save_messages([replace(messages[4], content=content("other words"))])
    item = store.dynamo.get(store.vectors.table, _key(messages[4]))
    assert item is not None and neighbours.lists_of(item) is None and "vec" not in item
    thread = store.dynamo.get(store.vectors.table, {"pk": s("THREAD#t1"), "sk": s("THREAD")})
    assert neighbours.certified(thread)  # nothing added or removed: still exact
    store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=8)
    got = store.memory.get_windows([Include(messages[3].id, with_next=2),
                                    Include(messages[4].id, with_previous=1)])
    assert _ids(got) == _ids(messages[3:6])


def test_a_deletion_nobody_counted_is_seen_and_read_the_long_way(dyn: Any) -> None:
    store, log = dyn
    messages = _thread(store, "t1", 8)
    _embedded(store, messages)
    # DynamoDB's TTL deletes the item (and the locator) without touching the thread.
    store.dynamo.call("DeleteItem", TableName=store.vectors.table, Key=_key(messages[3]))
    store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=8)
    log.reset()
    got = store.memory.get_windows([Include(messages[4].id, with_previous=2, with_next=1)])
    assert log.calls == {"dynamodb.BatchGetItem": 1, "dynamodb.Query": 2}
    assert _ids(got) == [messages[1].id, messages[2].id, messages[4].id, messages[5].id]


def test_the_lists_add_what_list_bytes_says_at_most(dyn: Any) -> None:
    from storage.dynamodb.itemsize import attribute_size

    store, _ = dyn
    messages = _thread(store, "t1", 5)
    _embedded(store, messages)
    item = store.dynamo.get(store.vectors.table, _key(messages[2]))
    assert item is not None
    added = attribute_size("nbp", item["nbp"]) + attribute_size("nbn", item["nbn"])
    assert 4 * len("MSG#" + sort_key(at(0), messages[2].id)) < added <= neighbours.list_bytes()


def test_two_turns_at_once_on_one_thread_keep_every_window_exact(dyn: Any) -> None:
    # Two workers save turns into one thread and run their embed jobs at once: saves
    # race upserts (cancelled, read again) and upserts race each other.
    import itertools
    import threading

    store, _ = dyn
    store.memory.save_thread(Thread(id="t1", resource_id="u-1"))
    clock = itertools.count()
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for n in range(8):
                with lock:
                    times = [next(clock), next(clock)]
                saved = store.memory.save_messages([
                    Message(id=f"{name}-{n}-{i}", thread_id="t1", role="user",
                            content=content(f"{name} {n} {i}"), created_at=at(t))
                    for i, t in enumerate(times)])
                _embedded(store, saved)
        except BaseException as exc:  # reported below
            failures.append(exc)

    workers = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert failures == []

    ordered = _ids(store.memory.list_messages("t1", per_page=None).items)
    assert len(ordered) == 32
    thread = store.dynamo.get(store.vectors.table, {"pk": s("THREAD#t1"), "sk": s("THREAD")})
    assert neighbours.certified(thread)  # the last job to commit saw every message
    store.vectors.search(QUERY, embedder="e", resource_id="u-1", top_k=100)
    for at_, message_id in enumerate(ordered):
        got = store.memory.get_windows([Include(message_id, with_previous=2, with_next=2)])
        assert _ids(got) == ordered[max(0, at_ - 2):at_ + 3]


def test_a_threads_writes_over_one_transaction_are_checked_and_certified_last() -> None:
    from storage.dynamodb.driver import TRANSACTION_ACTIONS

    def state(thread: str, version: int) -> neighbours.ThreadState:
        return neighbours.ThreadState(thread_id=thread, version=version, count=version)

    def writes(thread: str, count: int) -> list[dict[str, Any]]:
        return [neighbours.write_action("tbl", thread, neighbours.ListWrite(
            f"MSG#{i:016d}#m{i}", (), ())) for i in range(count)]

    small, big = state("small", 3), state("big", 7)
    plans = [(small, [*writes("small", 10), neighbours.certify_action("tbl", small)]),
             (big, [*writes("big", 150), neighbours.certify_action("tbl", big)])]
    binding = [{"Put": {"TableName": "tbl", "Item": {"pk": s("X"), "sk": s("Y")}}}]

    chunks = neighbours.transactions(binding, plans, "tbl")

    assert [len(a) for a, _ in chunks] == [100, 64]  # 1 + 11 + 87 + a check; 63 + 1
    assert all(len(a) <= TRANSACTION_ACTIONS for a, _ in chunks)
    (first, first_done), (second, second_done) = chunks
    assert first[0] == binding[0]  # the binding goes first, with the first writes
    assert first_done == {"small"} and second_done == {"big"}
    # "big" runs over the first transaction: its sv is checked there, certified last.
    assert "ConditionCheck" in first[-1]
    assert first[-1]["ConditionCheck"]["Key"]["pk"] == s("THREAD#big")
    assert "#c = :cert" in second[-1]["Update"]["UpdateExpression"]
    assert second[-1]["Update"]["ExpressionAttributeValues"][":sv"] == {"N": "7"}


def test_get_windows_refuses_bad_includes_and_bounds_by_resource(dyn: Any) -> None:
    from storage.errors import ValidationError

    store, _ = dyn
    messages = _thread(store, "t1", 5)
    store.memory.save_messages([Message(id="theirs", thread_id="t1", role="user",
                                        content=content("x"), created_at=at(2.5),
                                        resource_id="u-9")])
    reference = storage.open("memory://")
    reference.memory.save_thread(Thread(id="t1", resource_id="u-1"))
    reference.memory.save_messages(store.memory.list_messages("t1", per_page=None).items)
    for bad in (["m"], [Include("")], [Include("m", with_previous=-1)]):
        for memory in (store.memory, reference.memory):
            with pytest.raises(ValidationError):
                memory.get_windows(bad)
            with pytest.raises(ValidationError):
                memory.get_windows([Include(messages[0].id)], resource_id="")
    cases = [
        ([Include(messages[2].id, with_previous=1, with_next=1)], "u-1"),  # skips "theirs"
        ([Include("theirs", with_previous=1, with_next=1)], "u-1"),  # another's: nothing
        ([Include("theirs", with_previous=1, with_next=1)], None),
        (Include(messages[4].id, with_previous=2), None),  # a lone Include
    ]
    for include, resource in cases:
        got = store.memory.get_windows(include, resource_id=resource)
        assert got == reference.memory.get_windows(include, resource_id=resource)
    # t1-02's window is t1-01, t1-02 and "theirs" (at 2.5 s): u-1's part of it.
    assert _ids(store.memory.get_windows(cases[0][0], resource_id="u-1")) == [
        messages[1].id, messages[2].id]
    assert store.memory.get_windows(cases[1][0], resource_id="u-1") == []
