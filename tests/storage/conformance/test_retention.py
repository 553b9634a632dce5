"""Retention: ``store.prune(now=...)`` deletes exactly what is past its age, on every backend.

The clock is frozen (every ``storage`` module's ``utcnow``), so records get the
timestamps the test says. What survives is checked below the API (``raw.dump``:
every table, item and blob key), so a message, locator, vector or attachment left
behind by a deleted thread fails the test. Faults are injected mid-prune (a database
trigger aborting a delete, a blob store failing) and a rerun must finish the job
with nothing half-deleted visible in between.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from storage.errors import StorageError, UnavailableError, ValidationError
from storage.keys import attachment_key
from storage.lifecycle import Retention
from storage.records import MessageVector, Score, Span
from storage.timeutil import to_ms
from tests.storage.conformance import raw
from tests.storage.conformance.helpers import T0, make_message, make_thread, uid

NOW = to_ms(T0 + timedelta(days=400))
MS = timedelta(milliseconds=1)
RETENTION = Retention(
    threads=timedelta(days=90),
    runs=timedelta(days=30),
    spans=timedelta(days=14),
    scores=timedelta(days=180),
)


class Clock:
    """``utcnow()`` of every loaded ``storage`` module, frozen at :attr:`now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def freeze(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze ``utcnow`` in every loaded ``storage`` module at :data:`NOW`."""
    from storage import timeutil

    frozen = Clock(NOW)
    original = timeutil.utcnow
    for name, module in list(sys.modules.items()):
        if name.startswith("storage") and getattr(module, "utcnow", None) is original:
            monkeypatch.setattr(module, "utcnow", frozen)
    return frozen


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch)


@dataclass
class Seeded:
    """Ids of what a test seeded, by fate."""

    expired: list[str] = field(default_factory=list)  # thread ids that must go
    kept: list[str] = field(default_factory=list)  # thread ids that must stay
    messages: dict[str, int] = field(default_factory=dict)  # thread id -> message count


def _thread(store: Any, clock: Clock, seeded: Seeded, updated: datetime, *, expired: bool,
            resource_id: str | None = None, messages: int = 3) -> str:
    """A thread last written at ``updated``: messages, and an attachment where blobs exist."""
    clock.now = updated
    thread = make_thread(resource_id or uid("res"), thread_id=uid("thr"))
    store.memory.save_thread(thread)
    saved = store.memory.save_messages(
        [make_message(thread.id, f"text {i}", message_id=uid("msg"), created=i)
         for i in range(messages)]
    )
    _embed(store, saved)
    if store.blobs is not None:
        store.blobs.put(attachment_key(thread.resource_id, thread.id, "ab" * 32), b"bytes")
    # save_messages bumped updated_at to the frozen clock; pin it exactly.
    stored = store.memory.get_thread(thread.id)
    assert stored is not None and stored.updated_at == to_ms(updated)
    (seeded.expired if expired else seeded.kept).append(thread.id)
    seeded.messages[thread.id] = messages
    return thread.id


def _embed(store: Any, messages: list[Any]) -> None:
    """Give the messages vectors, where the backend's vector domain can store them."""
    vectors = getattr(store, "vectors", None)
    if vectors is None:
        return
    # A server without pgvector, a table without a vector index: checked without vectors
    # (tests/storage/test_dynamodb_retention.py covers DynamoDB's vector attributes).
    with contextlib.suppress(UnavailableError):
        vectors.upsert([
            MessageVector(message_id=m.id, thread_id=m.thread_id, resource_id=m.resource_id,
                          created_at=m.created_at, vector=(1.0, 0.0, 0.0), embedder="test/3")
            for m in messages
        ])


def seed_threads(store: Any, clock: Clock) -> Seeded:
    seeded = Seeded()
    age = RETENTION.threads
    assert age is not None
    shared = uid("res")
    _thread(store, clock, seeded, NOW - age - timedelta(days=30), expired=True,
            resource_id=shared)
    _thread(store, clock, seeded, NOW - age - MS, expired=True)  # a millisecond too old
    _thread(store, clock, seeded, NOW - age, expired=False)  # exactly the age: kept
    _thread(store, clock, seeded, NOW - timedelta(days=1), expired=False, resource_id=shared)
    _thread(store, clock, seeded, NOW - age - timedelta(days=2), expired=True, messages=5)
    _thread(store, clock, seeded, NOW + timedelta(days=1), expired=False)  # clock skew
    store.memory.update_resource(shared, working_memory="# notes")
    clock.now = NOW
    return seeded


def lines_of(store: Any, thread_ids: list[str]) -> dict[str, list[str]]:
    return {t: raw.mentioning(store, t) for t in thread_ids}


def assert_threads_gone(store: Any, thread_ids: list[str]) -> None:
    for thread_id in thread_ids:
        assert store.memory.get_thread(thread_id) is None
        assert raw.mentioning(store, thread_id) == [], f"{thread_id} left rows or blobs behind"


# --- threads ----------------------------------------------------------------------------


def test_prune_deletes_idle_threads_whole_and_nothing_younger(store: Any, clock: Clock) -> None:
    # Given threads on both sides of the 90-day age, with messages, vectors, attachments
    seeded = seed_threads(store, clock)
    if getattr(store, "vectors", None) is not None and type(store.vectors).__module__.endswith(
        ("memory.vectors", "sqlite.vectors")
    ):
        # The vectors are there to be deleted (checked by the raw listing below).
        assert any("vector" in line.lower() for t in seeded.expired
                   for line in raw.mentioning(store, t))
    kept_before = lines_of(store, seeded.kept)
    assert all(kept_before.values())
    # When pruning two threads per batch
    receipt = store.prune(NOW, retention=Retention(threads=RETENTION.threads), batch_size=2)
    # Then exactly the idle threads are gone, with every row and blob under them
    assert receipt.complete
    assert receipt.counts["threads"] == len(seeded.expired)
    assert receipt.counts["messages"] == sum(seeded.messages[t] for t in seeded.expired)
    assert_threads_gone(store, seeded.expired)
    # and every younger thread is untouched, row for row (the shared resource too)
    assert lines_of(store, seeded.kept) == kept_before
    shared = store.memory.get_thread(seeded.kept[1])
    assert store.memory.get_resource(shared.resource_id).working_memory == "# notes"
    page = store.memory.list_threads(resource_id=shared.resource_id)
    assert [t.id for t in page.items] == [shared.id] and page.total == 1


def test_a_second_prune_finds_nothing(store: Any, clock: Clock) -> None:
    seed_threads(store, clock)
    store.prune(NOW, retention=RETENTION)
    before = raw.dump(store)
    again = store.prune(NOW, retention=RETENTION)
    assert again.counts == {"threads": 0, "messages": 0, "runs": 0, "spans": 0, "scores": 0}
    assert raw.dump(store) == before


def test_prune_works_in_bounded_batches(store: Any, clock: Clock) -> None:
    seeded = seed_threads(store, clock)
    calls: list[dict[str, int]] = []
    original = store.memory.prune_batch

    def spy(before: datetime, *, limit: int) -> Any:
        counts = dict(original(before, limit=limit))
        calls.append(counts)
        assert counts["threads"] <= limit
        return counts

    store.memory.prune_batch = spy
    try:
        store.prune(NOW, retention=RETENTION, batch_size=1)
    finally:
        del store.memory.prune_batch
    assert [c["threads"] for c in calls] == [1] * len(seeded.expired) + [0]


def test_a_turn_makes_an_idle_thread_young_again(store: Any, clock: Clock) -> None:
    seeded = seed_threads(store, clock)
    revived = seeded.expired[0]
    store.memory.save_messages([make_message(revived, "back again", message_id=uid("msg"))])
    store.prune(NOW, retention=RETENTION)
    assert store.memory.get_thread(revived) is not None
    assert store.memory.list_messages(revived, per_page=None).total == seeded.messages[revived] + 1


def test_without_retention_prune_deletes_nothing(store: Any, clock: Clock) -> None:
    seed_threads(store, clock)
    before = raw.dump(store)
    receipt = store.prune(NOW, retention=Retention())
    assert sum(receipt.counts.values()) == 0 and receipt.complete
    assert raw.dump(store) == before


# --- runs, spans, scores ---------------------------------------------------------------


def seed_records(store: Any, clock: Clock) -> dict[str, tuple[list[str], list[str]]]:
    """Runs, spans and scores on both sides of their ages: domain -> (expired, kept)."""
    fates: dict[str, tuple[list[str], list[str]]] = {}
    runs_age, spans_age, scores_age = RETENTION.runs, RETENTION.spans, RETENTION.scores
    assert runs_age and spans_age and scores_age
    if store.workflows is not None:
        expired, kept = [], []
        for created, bucket in (
            (NOW - runs_age - timedelta(days=3), expired),
            (NOW - runs_age - MS, expired),
            (NOW - runs_age, kept),
            (NOW - timedelta(hours=1), kept),
        ):
            clock.now = created
            run_id = uid("run")
            store.workflows.persist_snapshot("wf", run_id, {"status": "running"})
            bucket.append(run_id)
        # A run still written to recently is as old as its creation.
        clock.now = NOW - timedelta(days=1)
        store.workflows.persist_snapshot("wf", expired[0], {"status": "success"})
        fates["runs"] = (expired, kept)
    if store.observability is not None:
        expired, kept = [], []
        for started, bucket in (
            (NOW - spans_age - timedelta(days=1), expired),
            (NOW - spans_age - MS, expired),
            (NOW - spans_age, kept),
            (NOW, kept),
        ):
            span_id = uid("span")
            store.observability.create_spans(
                [Span(trace_id=uid("trace"), span_id=span_id, name="step",
                      span_type="agent_run", started_at=started)]
            )
            bucket.append(span_id)
        fates["spans"] = (expired, kept)
    if store.scores is not None:
        expired, kept = [], []
        for created, bucket in (
            (NOW - scores_age - timedelta(days=10), expired),
            (NOW - scores_age - MS, expired),
            (NOW - scores_age, kept),
            (NOW - timedelta(days=2), kept),
        ):
            score_id = uid("score")
            store.scores.save_score(
                Score(id=score_id, scorer_id="s", score=0.5, run_id=uid("run"),
                      created_at=created)
            )
            bucket.append(score_id)
        fates["scores"] = (expired, kept)
    clock.now = NOW
    return fates


def test_prune_deletes_runs_spans_and_scores_past_their_ages(store: Any, clock: Clock) -> None:
    fates = seed_records(store, clock)
    kept_before = {d: {i: raw.mentioning(store, i) for i in kept}
                   for d, (_, kept) in fates.items()}
    receipt = store.prune(NOW, retention=RETENTION, batch_size=1)
    for domain, (expired, kept) in fates.items():
        assert receipt.counts[domain] == len(expired), domain
        for record_id in expired:
            assert raw.mentioning(store, record_id) == [], f"{domain} {record_id} survived"
        assert {i: raw.mentioning(store, i) for i in kept} == kept_before[domain]
    if "runs" in fates:
        expired, kept = fates["runs"]
        assert store.workflows.get_run(expired[0]) is None
        assert store.workflows.get_run(kept[0]) is not None


def test_each_domain_keeps_its_own_age(store: Any, clock: Clock) -> None:
    fates = seed_records(store, clock)
    seeded = seed_threads(store, clock)
    receipt = store.prune(NOW, retention=Retention(spans=RETENTION.spans))
    assert receipt.counts["threads"] == receipt.counts["runs"] == receipt.counts["scores"] == 0
    for thread_id in seeded.expired:
        assert store.memory.get_thread(thread_id) is not None
    if "spans" in fates:
        assert receipt.counts["spans"] == len(fates["spans"][0])


# --- interruption and resumption ------------------------------------------------------


def _all_or_nothing(store: Any, before: dict[str, list[str]]) -> None:
    """Each thread is either whole (every row as before) or gone from the API."""
    for thread_id, lines in before.items():
        if store.memory.get_thread(thread_id) is not None:
            assert raw.mentioning(store, thread_id) == lines, f"{thread_id} half deleted"
        else:
            assert store.memory.list_messages(thread_id, per_page=None).total == 0


def test_a_prune_killed_mid_batch_rolls_back_and_a_rerun_finishes(
    store: Any, clock: Clock, backend: Any
) -> None:
    backend.require("sql_faults")
    seeded = seed_threads(store, clock)
    everything = lines_of(store, seeded.expired + seeded.kept)
    first_batch = sum(seeded.messages[t] for t in seeded.expired[:1])
    # Given a database that fails the 2nd message delete of the second batch
    with raw.fail_row_deletes_after(store, "memory", "mastra_messages", first_batch + 1), \
            pytest.raises(StorageError, match="injected fault"):
        store.prune(NOW, retention=RETENTION, batch_size=1)
    # Then the first batch is gone whole, the second was rolled back whole
    assert store.memory.get_thread(seeded.expired[0]) is None
    assert store.memory.get_thread(seeded.expired[1]) is not None
    _all_or_nothing(store, everything)
    # When the prune runs again, it finishes the job and nothing else
    receipt = store.prune(NOW, retention=RETENTION, batch_size=1)
    assert receipt.counts["threads"] == len(seeded.expired) - 1
    assert_threads_gone(store, seeded.expired)
    assert lines_of(store, seeded.kept) == {t: everything[t] for t in seeded.kept}


def test_a_prune_failing_between_dynamodb_transactions_is_finished_by_the_next(
    store: Any, clock: Clock
) -> None:
    if not type(store.memory).__module__.startswith("storage.dynamodb"):
        pytest.skip("DynamoDB transactions only")
    seeded = seed_threads(store, clock)
    everything = lines_of(store, seeded.expired + seeded.kept)
    # Given DynamoDB failing after the first thread's cascade
    with raw.fail_dynamodb_transactions_after(store, 1), pytest.raises(raw.InjectedFault):
        store.prune(NOW, retention=RETENTION, batch_size=2)
    assert store.memory.get_thread(seeded.expired[0]) is None
    _all_or_nothing(store, everything)
    store.prune(NOW, retention=RETENTION, batch_size=2)
    assert_threads_gone(store, seeded.expired)
    assert lines_of(store, seeded.kept) == {t: everything[t] for t in seeded.kept}


def test_a_prune_cut_off_by_its_blob_store_is_finished_by_the_next(
    store: Any, clock: Clock, backend: Any
) -> None:
    if store.blobs is None:
        pytest.skip("no blob store")
    seeded = seed_threads(store, clock)
    everything = lines_of(store, seeded.expired + seeded.kept)
    # Given a blob store that fails after one thread's attachments were deleted
    with raw.fail_blob_deletes_after(store, 1) as fault, pytest.raises(raw.InjectedFault):
        store.prune(NOW, retention=RETENTION, batch_size=2)
    assert fault["failed"] == 1
    # Then no thread is visible half deleted (rows and blobs go in that order)
    _all_or_nothing(store, everything)
    # When the next prune runs, the leftover blobs go first, then the other threads
    store.prune(NOW, retention=RETENTION, batch_size=2)
    assert_threads_gone(store, seeded.expired)
    assert lines_of(store, seeded.kept) == {t: everything[t] for t in seeded.kept}


def test_a_time_budget_stops_between_batches_and_the_next_prune_carries_on(
    store: Any, clock: Clock
) -> None:
    seeded = seed_threads(store, clock)
    stopped = store.prune(NOW, retention=RETENTION, batch_size=1, time_budget=0)
    assert not stopped.complete and stopped.counts["threads"] == 0
    assert store.prune(NOW, retention=RETENTION, batch_size=1).complete
    assert_threads_gone(store, seeded.expired)


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, 10_001, 1.5, True, "10"])
def test_bad_batch_sizes_are_refused(store: Any, batch_size: Any) -> None:
    with pytest.raises(ValidationError, match="batch_size"):
        store.prune(retention=RETENTION, batch_size=batch_size)


def test_a_naive_now_is_refused(store: Any) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        store.prune(datetime(2025, 1, 1), retention=RETENTION)


def test_prune_batch_refuses_a_naive_cutoff(store: Any) -> None:
    with pytest.raises(ValidationError, match="before"):
        store.memory.prune_batch(datetime(2025, 1, 1), limit=10)


@pytest.fixture(autouse=True)
def _requires_prune(backend: Any) -> Iterator[None]:
    backend.require("prune")
    yield
