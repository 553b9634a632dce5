"""Erase: ``store.erase_resource(id)`` leaves nothing of the resource, on every backend.

Two resources are seeded alike (threads, messages with an attachment and, where the
backend overflows to blobs, an oversize message and working memory; vectors, runs,
spans, scores). One is erased. What is left is read below the API (``raw.dump``: every
table, item and blob key): no line may mention the erased resource or any of its ids,
and every other line must be exactly as before. Faults cut the erase after N writes;
a rerun must reach exactly the state of an uninterrupted erase.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from storage.errors import StorageError, UnavailableError, ValidationError
from storage.keys import attachment_key
from storage.lifecycle.erase import ERASE_DOMAINS, resource_tag
from storage.lifecycle.inventory import ResourceInventory
from storage.records import MessageVector
from tests.storage.conformance import raw
from tests.storage.conformance.backends import Backend
from tests.storage.conformance.helpers import make_message, make_score, make_span, make_thread, uid

BIG = 450_000  # over a DynamoDB item: offloaded where the backend overflows to blobs


@dataclass
class Seeded:
    """One resource's ids, and what the receipt of its erase must count."""

    resource_id: str
    ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERASE_DOMAINS, 0))


def _embed(store: Any, messages: list[Any]) -> int:
    vectors = getattr(store, "vectors", None)
    if vectors is None:
        return 0
    try:
        vectors.upsert([
            MessageVector(message_id=m.id, thread_id=m.thread_id, resource_id=m.resource_id,
                          created_at=m.created_at, vector=(1.0, 0.5, 0.0), embedder="test/3")
            for m in messages
        ])
    except UnavailableError:  # a server without pgvector: checked without vectors
        return 0
    return len(messages)


def seed(store: Any, backend: Backend, *, threads: int = 2) -> Seeded:
    """A resource with something in every domain the store has."""
    seeded = Seeded(uid("res"))
    res = seeded.resource_id
    memory = store.memory
    overflow = backend.has("overflow")
    for t in range(threads):
        thread = memory.save_thread(make_thread(res, thread_id=uid("thr"), created=t))
        messages = [make_message(thread.id, f"text {i}", message_id=uid("msg"), created=i)
                    for i in range(3)]
        if t == 0 and overflow:
            messages.append(make_message(thread.id, "x" * BIG, message_id=uid("big"), created=9))
        saved = memory.save_messages(messages)
        seeded.counts["vectors"] += _embed(store, saved[:2])
        seeded.ids += [thread.id, *(m.id for m in saved)]
        seeded.counts["threads"] += 1
        seeded.counts["messages"] += len(saved)
        if store.blobs is not None:
            store.blobs.put(attachment_key(res, thread.id, "ab" * 32), b"attached")
            seeded.counts["blobs"] += 1
    memory.update_resource(res, working_memory="y" * BIG if overflow else "# notes",
                           metadata={"plan": "pro"})
    seeded.counts["resources"] = 1
    if store.workflows is not None:
        for _ in range(2):
            run_id = uid("run")
            store.workflows.persist_snapshot("wf", run_id, {"status": "success"},
                                             resource_id=res)
            seeded.ids.append(run_id)
            seeded.counts["runs"] += 1
    if store.observability is not None:
        trace = uid("trace")
        root = make_span(trace, uid("root"), resource_id=res)
        child = make_span(trace, uid("child"), parent=root.span_id, started=1, resource_id=res)
        store.observability.create_spans([root, child])
        seeded.ids += [trace, root.span_id, child.span_id]
        seeded.counts["spans"] += 2
    if store.scores is not None:
        for _ in range(2):
            score = store.scores.save_score(make_score(resource_id=res))
            seeded.ids.append(score.id)
            seeded.counts["scores"] += 1
    return seeded


def lines_of(store: Any, seeded: Seeded) -> list[str]:
    return raw.mentioning(store, seeded.resource_id, *seeded.ids)


def others(lines: list[str], seeded: Seeded) -> list[str]:
    needles = (seeded.resource_id, *seeded.ids)
    return [line for line in lines if not any(n in line for n in needles)]


def _offloaded_counts(store: Any, seeded: Seeded) -> int:
    """Blobs the backend offloaded for the resource (big message, working memory)."""
    blobs = getattr(store, "blobs", None)
    if blobs is None:
        return 0
    return sum(
        1 for key in raw.blob_keys(blobs)
        if "offload/" in key and any(i in key for i in (seeded.resource_id, *seeded.ids))
    )


# --- the erase -------------------------------------------------------------------------


def test_erase_leaves_zero_records_and_blobs_and_touches_no_other_resource(
    store: Any, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two resources seeded alike
    victim = seed(store, backend)
    bystander = seed(store, backend)
    before = raw.dump(store)
    assert lines_of(store, victim) and lines_of(store, bystander)
    offloaded = _offloaded_counts(store, victim)
    # When one is erased
    with caplog.at_level(logging.INFO, logger="storage.lifecycle.erase"):
        receipt = store.erase_resource(victim.resource_id, batch_size=1)
    # Then no row, item or blob mentions it or any of its ids
    assert lines_of(store, victim) == []
    # and everything else is exactly as it was
    assert raw.dump(store) == others(before, victim)
    # and the receipt counts what went, without content
    expected = dict(victim.counts, blobs=victim.counts["blobs"] + offloaded)
    assert dict(receipt.counts) == expected
    body = receipt.to_dict()
    assert body["resourceId"] == victim.resource_id and body["counts"] == expected
    assert receipt.started_at <= receipt.finished_at
    # and the log line names the resource by a hash, with the counts, and no content
    logged = [r.getMessage() for r in caplog.records if r.name == "storage.lifecycle.erase"]
    assert len(logged) == 1 and resource_tag(victim.resource_id) in logged[0]
    assert victim.resource_id not in logged[0] and "text" not in logged[0]
    # The API agrees
    assert store.memory.get_resource(victim.resource_id) is None
    assert store.memory.list_threads(resource_id=victim.resource_id).total == 0
    assert list(ResourceInventory(store, victim.resource_id).blob_keys()) == []


def test_a_second_erase_returns_an_empty_receipt_and_changes_nothing(
    store: Any, backend: Backend
) -> None:
    victim = seed(store, backend)
    seed(store, backend)
    store.erase_resource(victim.resource_id)
    after = raw.dump(store)
    again = store.erase_resource(victim.resource_id)
    assert again.empty and set(again.counts) == set(ERASE_DOMAINS)
    assert raw.dump(store) == after


def test_an_unknown_resource_is_a_no_op(store: Any, backend: Backend) -> None:
    seed(store, backend)
    before = raw.dump(store)
    receipt = store.erase_resource(uid("nobody"))
    assert receipt.empty
    assert raw.dump(store) == before


def test_a_resource_whose_id_prefixes_another_is_not_touched(
    store: Any, backend: Backend
) -> None:
    # "res-1" must not take "res-10"'s blobs (prefixes end with "/") or rows.
    victim = seed(store, backend)
    longer = Seeded(victim.resource_id + "0")
    thread = store.memory.save_thread(make_thread(longer.resource_id, thread_id=uid("thr")))
    store.memory.save_messages([make_message(thread.id, "kept", message_id=uid("msg"))])
    if store.blobs is not None:
        store.blobs.put(attachment_key(longer.resource_id, thread.id, "cd" * 32), b"kept")
    store.memory.update_resource(longer.resource_id, working_memory="kept")
    kept = raw.mentioning(store, longer.resource_id + "/", thread.id)
    store.erase_resource(victim.resource_id)
    assert raw.mentioning(store, longer.resource_id + "/", thread.id) == kept
    assert store.memory.get_resource(longer.resource_id) is not None


@pytest.mark.parametrize("bad", ["", " ", "a\x00b", None, 7, "x" * 5000])
def test_bad_resource_ids_are_refused_before_anything_is_deleted(store: Any, bad: Any) -> None:
    with pytest.raises(ValidationError):
        store.erase_resource(bad)


@pytest.mark.parametrize("batch_size", [0, -1, 1001, True, "10", 2.5])
def test_bad_batch_sizes_are_refused(store: Any, batch_size: Any) -> None:
    with pytest.raises(ValidationError):
        store.erase_resource("someone", batch_size=batch_size)


# --- faults --------------------------------------------------------------------------------

_WRITES = (
    ("memory", "delete_thread"), ("memory", "delete_resource"), ("workflows", "delete_run"),
    ("observability", "delete_traces"), ("scores", "delete_scores"),
    ("vectors", "delete_resource"), ("blobs", "delete_prefix"),
)


@contextlib.contextmanager
def fail_writes_after(store: Any, writes: int) -> Iterator[dict[str, int]]:
    """Every deleting call of the store's domains raises after the first ``writes``
    (the blob store's too: a thread cascade is cut between its rows and its blobs)."""
    state = {"calls": 0, "failed": 0}
    patched: list[Any] = []
    for name, method in _WRITES:
        domain = getattr(store, name, None)
        if domain is None or (domain, method) in [(d, m) for d, m in patched]:
            continue
        original = getattr(domain, method)

        def failing(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            state["calls"] += 1
            if state["calls"] > writes:
                state["failed"] += 1
                raise raw.InjectedFault(f"write {state['calls']} failed")
            return __original(*args, **kwargs)

        setattr(domain, method, failing)
        patched.append((domain, method))
    try:
        yield state
    finally:
        for domain, method in patched:
            with contextlib.suppress(AttributeError):
                delattr(domain, method)


@pytest.mark.parametrize("writes", [0, 1, 2, 3, 5, 7])
def test_an_erase_cut_after_n_writes_is_finished_by_a_rerun(
    store: Any, backend: Backend, writes: int
) -> None:
    victim = seed(store, backend)
    seed(store, backend)
    before = raw.dump(store)
    with fail_writes_after(store, writes) as fault, pytest.raises(raw.InjectedFault):
        store.erase_resource(victim.resource_id, batch_size=1)
    assert fault["failed"] == 1
    # Whatever is left of the victim is consistent: every thread still listed is whole
    for thread in ResourceInventory(store, victim.resource_id).threads():
        listed = store.memory.list_messages(thread.id, per_page=None)
        assert [m.id for m in listed.items] == [
            m.id for m in store.memory.get_messages([m.id for m in listed.items])]
    # and the other resource is untouched
    assert [line for line in raw.dump(store) if line in others(before, victim)] == others(
        before, victim)
    store.erase_resource(victim.resource_id)
    assert lines_of(store, victim) == []
    assert raw.dump(store) == others(before, victim)


@pytest.mark.parametrize("rows", [0, 2, 4])
def test_an_erase_aborted_by_the_database_mid_thread_is_finished_by_a_rerun(
    store: Any, backend: Backend, rows: int
) -> None:
    backend.require("sql_faults")
    victim = seed(store, backend, threads=3)
    seed(store, backend)
    before = raw.dump(store)
    with raw.fail_row_deletes_after(store, "memory", "mastra_messages", rows), \
            pytest.raises(StorageError, match="injected fault"):
        store.erase_resource(victim.resource_id, batch_size=1)
    store.erase_resource(victim.resource_id)
    assert lines_of(store, victim) == []
    assert raw.dump(store) == others(before, victim)


_DYNAMODB_WRITES = ("TransactWriteItems", "DeleteItem", "UpdateItem", "BatchWriteItem",
                    "PutItem", "DeleteObjects", "DeleteObject")


@pytest.mark.parametrize("requests", [0, 1, 2, 4, 6, 8])
def test_an_erase_cut_after_n_dynamodb_requests_is_finished_by_a_rerun(
    store: Any, backend: Backend, requests: int
) -> None:
    if not type(store.memory).__module__.startswith("storage.dynamodb"):
        pytest.skip("DynamoDB requests")
    victim = seed(store, backend)
    seed(store, backend)
    before = raw.dump(store)
    state = {"calls": 0}

    def before_call(**_: Any) -> None:
        state["calls"] += 1
        if state["calls"] > requests:
            raise raw.InjectedFault(f"request {state['calls']} failed")

    clients = {}
    for name in ("memory", "workflows", "observability", "scores", "vectors"):
        dynamo = getattr(getattr(store, name, None), "dynamo", None)
        if dynamo is not None:
            clients[id(dynamo.client)] = dynamo.client
    blob_client = getattr(store.blobs, "client", None)
    if blob_client is not None:
        clients[id(blob_client)] = blob_client
    events = [(c, f"before-call.{c.meta.service_model.endpoint_prefix}.{op}")
              for c in clients.values() for op in _DYNAMODB_WRITES]
    for client, event in events:
        client.meta.events.register(event, before_call)
    try:
        with pytest.raises(raw.InjectedFault):
            store.erase_resource(victim.resource_id, batch_size=1)
        assert state["calls"] > requests  # (a best-effort blob discard may swallow one)
    finally:
        for client, event in events:
            client.meta.events.unregister(event, before_call)
    store.erase_resource(victim.resource_id)
    assert lines_of(store, victim) == []
    assert raw.dump(store) == others(before, victim)
