"""DynamoDB backend specifics under moto: request counts, keys, overflow, no Scan."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import storage
from storage.dynamodb.itemsize import item_size
from storage.dynamodb.schema import TABLES, table_name
from storage.errors import ItemTooLargeError, NotFoundError, ValidationError
from storage.records import (
    Include,
    Message,
    MessageUpdate,
    Score,
    Span,
    SpanUpdate,
    Thread,
)
from tests.storage.dynamodb_support import RequestLog, moto_dynamodb

T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def dyn() -> Iterator[tuple[Any, RequestLog]]:
    with moto_dynamodb() as opened:
        yield opened


@pytest.fixture
def dyn_s3() -> Iterator[tuple[Any, RequestLog]]:
    with moto_dynamodb(with_s3=True, offload_threshold=4096) as opened:
        yield opened


def _msg(thread: str, i: int, text: str = "hello", **kw: Any) -> Message:
    return Message(
        id=f"{thread}-{i:03d}",
        thread_id=thread,
        role="user" if i % 2 == 0 else "assistant",
        content={"format": 2, "parts": [{"type": "text", "text": text}]},
        created_at=T0 + timedelta(seconds=i),
        resource_id=kw.pop("resource_id", "u1"),
        **kw,
    )


def _raw(store: Any, pk: str) -> list[dict[str, Any]]:
    memory = store.memory
    out = memory.dynamo.client._make_api_call(
        "Query",
        {
            "TableName": memory.table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}},
            "ConsistentRead": True,
        },
    )
    return list(out["Items"])


def _ops(log: RequestLog) -> dict[str, int]:
    return {k.split(".", 1)[1]: v for k, v in log.calls.items() if k.startswith("dynamodb.")}


# --- tables --------------------------------------------------------------------------


def test_setup_creates_the_tables_of_the_schema_and_span_ttl(dyn: Any) -> None:
    store, _ = dyn
    client = store.dynamo.client
    for domain, schema in TABLES.items():
        name = table_name(store.prefix, domain)
        table = client.describe_table(TableName=name)["Table"]
        assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
        indexes = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        assert indexes == {i.name for i in schema.indexes}
    ttl = client.describe_time_to_live(TableName=table_name(store.prefix, "observability"))
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    store.setup()  # idempotent


def test_url_options_reach_the_client() -> None:
    opened = storage.open("dynamodb://app-dev?region=eu-west-1&endpoint=http://127.0.0.1:8000")
    assert opened.memory.table == "app-dev-memory"
    assert opened.dynamo.connection.region == "eu-west-1"
    assert opened.dynamo.connection.host == "http://127.0.0.1:8000"
    with pytest.raises(ValidationError):
        storage.open("dynamodb://bad prefix!")
    with pytest.raises(ValidationError):
        storage.open("dynamodb://p?offload_threshold=10")


# --- request budgets -----------------------------------------------------------------


def test_a_turn_is_one_transaction_and_the_thread_is_bumped(dyn: Any) -> None:
    store, log = dyn
    store.memory.save_thread(Thread(id="t", resource_id="u1", created_at=T0, updated_at=T0))
    log.reset()
    store.memory.save_messages([_msg("t", 0), _msg("t", 1)])
    assert _ops(log) == {"TransactWriteItems": 1}
    thread = store.memory.get_thread("t")
    assert thread.updated_at > T0


def test_a_turn_without_moves_adds_no_request_and_a_refusal_writes_nothing(dyn: Any) -> None:
    store, log = dyn
    store.memory.save_thread(Thread(id="t", resource_id="u1", created_at=T0, updated_at=T0))
    store.memory.save_thread(Thread(id="other", resource_id="u2", created_at=T0, updated_at=T0))
    store.memory.save_messages([_msg("other", 0)])
    log.reset()
    # New ids: the locators' attribute_not_exists conditions are the check, no read.
    store.memory.save_messages([_msg("t", 0), _msg("t", 1)], allow_move=False)
    assert _ops(log) == {"TransactWriteItems": 1}
    log.reset()
    # An id of another thread cancels the transaction; the locator read refuses it.
    with pytest.raises(storage.MessageIdConflictError):
        store.memory.save_messages([_msg("t", 2), Message(**{**_msg("other", 0).__dict__,
                                                            "thread_id": "t"})],
                                   allow_move=False)
    assert _ops(log) == {"TransactWriteItems": 1, "BatchGetItem": 1}
    assert _raw(store, "MSGID#t-002") == []
    assert [i["id"]["S"] for i in _raw(store, "THREAD#other")] == ["other-000", "other"]
    assert store.memory.list_messages("t", per_page=10, direction="desc").total == 2


def test_a_turn_into_a_missing_thread_writes_nothing(dyn: Any) -> None:
    store, _ = dyn
    with pytest.raises(NotFoundError):
        store.memory.save_messages([_msg("nope", 0)])
    assert store.memory.get_messages(["nope-000"]) == []
    assert _raw(store, "MSGID#nope-000") == []


def test_last_twenty_is_one_query_of_21_items_with_the_total(dyn: Any) -> None:
    store, log = dyn
    store.memory.save_thread(Thread(id="t", resource_id="u1"))
    for i in range(0, 50, 2):
        store.memory.save_messages([_msg("t", i), _msg("t", i + 1)])
    log.reset()
    page = store.memory.list_messages("t", per_page=20, direction="desc")
    assert _ops(log) == {"Query": 1}
    assert [m.id for m in page.items] == [f"t-{i:03d}" for i in range(49, 29, -1)]
    assert (page.total, page.has_more) == (50, True)


def test_a_page_of_threads_is_one_query_carrying_its_total(dyn: Any) -> None:
    store, log = dyn
    for i in range(15):
        at = T0 + timedelta(minutes=i)
        store.memory.save_thread(
            Thread(id=f"t{i:02d}", resource_id="u1", created_at=at, updated_at=at)
        )
    store.memory.save_thread(Thread(id="other", resource_id="u2"))
    log.reset()
    page = store.memory.list_threads(resource_id="u1", per_page=10, order_by="updated_at")
    assert _ops(log) == {"Query": 1}
    assert [t.id for t in page.items] == [f"t{i:02d}" for i in range(14, 4, -1)]
    assert (page.total, page.has_more) == (15, True)


def test_thread_counters_follow_saves_moves_and_deletes(dyn: Any) -> None:
    store, _ = dyn
    memory = store.memory
    memory.save_thread(Thread(id="a", resource_id="u1"))
    memory.save_thread(Thread(id="a", resource_id="u1", title="again"))  # replace: no +1
    memory.save_thread(Thread(id="b", resource_id="u1"))
    memory.save_thread(Thread(id="b", resource_id="u2"))  # moves to u2
    assert memory.list_threads(resource_id="u1", per_page=5).total == 1
    assert memory.list_threads(resource_id="u2", per_page=5).total == 1
    memory.delete_thread("a")
    assert memory.list_threads(resource_id="u1", per_page=5).total == 0
    assert memory.list_threads(resource_id="u1", per_page=5, direction="asc").total == 0


def test_get_and_rename_are_one_request_each(dyn: Any) -> None:
    store, log = dyn
    store.memory.save_thread(Thread(id="t", resource_id="u1"))
    log.reset()
    store.memory.get_thread("t")
    assert _ops(log) == {"GetItem": 1}
    log.reset()
    store.memory.update_thread("t", title="Renamed", metadata={"k": 1})
    assert _ops(log) == {"UpdateItem": 1}


def test_deleting_a_50_message_thread_takes_at_most_5_requests(dyn: Any) -> None:
    store, log = dyn
    store.memory.save_thread(Thread(id="t", resource_id="u1"))
    for i in range(0, 50, 2):
        store.memory.save_messages([_msg("t", i), _msg("t", i + 1)])
    log.reset()
    store.memory.delete_thread("t")
    assert sum(_ops(log).values()) <= 5
    assert _raw(store, "THREAD#t") == []
    assert all(_raw(store, f"MSGID#t-{i:03d}") == [] for i in range(50))


# --- semantics the key design has to get right -----------------------------------------


def test_resave_and_move_keep_message_counts_exact(dyn: Any) -> None:
    store, _ = dyn
    memory = store.memory
    memory.save_thread(Thread(id="a", resource_id="u1"))
    memory.save_thread(Thread(id="b", resource_id="u1"))
    memory.save_messages([_msg("a", 0), _msg("a", 1)])
    memory.save_messages([_msg("a", 1, "edited")])  # same id, same place: an overwrite
    assert memory.list_messages("a", per_page=10, direction="desc").total == 2
    moved = _msg("a", 0)
    memory.save_messages([Message(**{**moved.__dict__, "thread_id": "b"})])
    assert memory.list_messages("a", per_page=10, direction="desc").total == 1
    assert memory.list_messages("b", per_page=10, direction="desc").total == 1
    assert _raw(store, "THREAD#a")[0]["id"]["S"] == "a-001"  # the old copy is gone
    memory.update_messages([MessageUpdate(id="a-001", thread_id="b")])
    assert memory.list_messages("a", per_page=10, direction="desc").total == 0
    b = memory.list_messages("b", per_page=10, direction="desc")
    assert (b.total, {m.id for m in b.items}) == (2, {"a-000", "a-001"})
    memory.delete_messages(["a-000"])
    assert memory.list_messages("b", per_page=10, direction="desc").total == 1


def test_messages_without_resource_take_their_threads(dyn: Any) -> None:
    store, _ = dyn
    store.memory.save_thread(Thread(id="t", resource_id="owner"))
    saved = store.memory.save_messages([_msg("t", 0, resource_id=None)])
    assert saved[0].resource_id == "owner"
    assert store.memory.get_messages(["t-000"])[0].resource_id == "owner"


def test_include_windows_come_from_the_included_messages_thread(dyn: Any) -> None:
    store, _ = dyn
    memory = store.memory
    memory.save_thread(Thread(id="a", resource_id="u1"))
    memory.save_thread(Thread(id="b", resource_id="u1"))
    memory.save_messages([_msg("a", i) for i in range(6)])
    memory.save_messages([_msg("b", 10)])
    page = memory.list_messages("b", include=[Include("a-003", with_previous=1, with_next=2)])
    assert [m.id for m in page.items] == ["a-002", "a-003", "a-004", "a-005", "b-010"]
    assert page.total == 1


def test_eight_concurrent_metadata_merges_lose_no_key(dyn: Any) -> None:
    store, _ = dyn
    store.memory.save_thread(Thread(id="t", resource_id="u1", metadata={"base": 0}))
    barrier = threading.Barrier(8)

    def merge(i: int) -> None:
        barrier.wait()
        store.memory.update_thread("t", metadata={f"k{i}": i})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(merge, range(8)))
    metadata = store.memory.get_thread("t").metadata
    assert metadata == {"base": 0, **{f"k{i}": i for i in range(8)}}


def test_resource_metadata_merges_server_side_and_creates(dyn: Any) -> None:
    store, _ = dyn
    store.memory.update_resource("r", metadata={"a": 1})
    store.memory.update_resource("r", working_memory="# notes", metadata={"b": {"c": 2}})
    resource = store.memory.get_resource("r")
    assert resource.metadata == {"a": 1, "b": {"c": 2}}
    assert resource.working_memory == "# notes"


# --- overflow ------------------------------------------------------------------------


def test_an_oversize_message_overflows_to_s3_and_reads_back(dyn_s3: Any) -> None:
    store, log = dyn_s3
    store.memory.save_thread(Thread(id="t", resource_id="u1"))
    text = "x" * 10_000  # over the 4 KiB threshold of this store
    log.reset()
    store.memory.save_messages([_msg("t", 0, text)])
    ops = dict(log.calls)
    assert ops["s3.PutObject"] == 1 and ops["dynamodb.TransactWriteItems"] == 1
    [item] = [i for i in _raw(store, "THREAD#t") if i["sk"]["S"].startswith("MSG#")]
    assert "content" not in item and item["content_ref"]["S"].startswith("s3://")
    assert item_size(item) <= 4096
    assert store.memory.get_messages(["t-000"])[0].text == text
    uri = item["content_ref"]["S"]
    store.memory.delete_thread("t")
    with pytest.raises(NotFoundError):
        store.blobs.get(uri)


def test_without_a_blob_store_oversize_is_refused_before_any_write(dyn: Any) -> None:
    store, log = dyn
    store.memory.save_thread(Thread(id="t", resource_id="u1"))
    log.reset()
    with pytest.raises(ItemTooLargeError):
        store.memory.save_messages([_msg("t", 0, "x" * 400_000)])
    assert "dynamodb.TransactWriteItems" not in log.calls
    assert store.memory.list_messages("t").total == 0


def test_six_megabyte_snapshot_and_two_megabyte_span_output_round_trip(dyn_s3: Any) -> None:
    store, _ = dyn_s3
    snapshot = {"status": "running", "context": {"blob": "s" * 6_000_000}}
    store.workflows.persist_snapshot("wf", "run-1", snapshot, resource_id="u1")
    assert store.workflows.load_snapshot("wf", "run-1") == snapshot
    store.workflows.persist_snapshot("wf", "run-1", {"status": "done"})
    run = store.workflows.get_run("run-1")
    assert (run.status, run.snapshot, run.resource_id) == ("done", {"status": "done"}, "u1")
    span = Span(
        trace_id="tr",
        span_id="sp",
        name="agent",
        span_type="agent_run",
        started_at=T0,
        output={"text": "o" * 2_000_000},
    )
    store.observability.create_spans([span])
    assert store.observability.get_trace("tr")[0].output == span.output
    store.observability.update_spans([SpanUpdate("tr", "sp", {"ended_at": T0 + timedelta(1)})])
    assert store.observability.get_trace("tr")[0].output == span.output


def test_spans_carry_a_ttl_when_retention_is_set() -> None:
    with moto_dynamodb(span_ttl_days=7) as (store, _):
        store.observability.create_spans(
            [Span(trace_id="tr", span_id="sp", name="n", span_type="t", started_at=T0)]
        )
        out = store.dynamo.client.get_item(
            TableName=store.observability.table,
            Key={"pk": {"S": "TRACE#tr"}, "sk": {"S": "SPAN#sp"}},
        )
        expires = int(out["Item"]["expires_at"]["N"])
        assert abs(expires - (time.time() + 7 * 86_400)) < 60


# --- no Scan, anywhere ---------------------------------------------------------------


def test_every_domain_operation_uses_keys_and_indexes_only(dyn_s3: Any) -> None:
    store, log = dyn_s3  # the RequestLog raises on any Scan
    m = store.memory
    m.save_thread(Thread(id="t", resource_id="u1", metadata={"k": "v"}))
    m.save_messages([_msg("t", i) for i in range(4)])
    m.list_messages("t", start=T0, end=T0 + timedelta(seconds=2), resource_id="u1")
    m.list_messages("t", per_page=None)
    m.list_messages("t", per_page=2, page=1, direction="asc", include=[Include("t-001", 1, 1)])
    m.list_threads()
    m.list_threads(resource_id="u1", metadata={"k": "v"}, order_by="created_at", direction="asc")
    m.update_messages([MessageUpdate(id="t-000", metadata={"x": 1})])
    m.get_messages(["t-000", "zz"])
    m.delete_messages(["t-001"])
    m.update_resource("u1", working_memory="w")
    m.get_resource("u1")
    m.delete_thread("t")
    w = store.workflows
    w.persist_snapshot("wf", "r1", {"status": "ok"}, resource_id="u1")
    w.get_run("r1")
    for kwargs in ({}, {"workflow_name": "wf"}, {"resource_id": "u1", "status": "ok"}):
        assert w.list_runs(**kwargs).total == 1
    w.delete_run("wf", "r1")
    o = store.observability
    o.create_spans(
        [
            Span(
                trace_id="tr",
                span_id="s",
                name="n",
                span_type="t",
                started_at=T0,
                entity_type="agent",
                entity_id="a",
                resource_id="u1",
                thread_id="t",
            )
        ]
    )
    for kwargs in (
        {},
        {"entity_type": "agent", "entity_id": "a"},
        {"resource_id": "u1"},
        {"thread_id": "t"},
        {"start": T0, "end": T0},
    ):
        assert o.list_traces(**kwargs).total == 1
    o.delete_traces(["tr"])
    sc = store.scores
    sc.save_score(
        Score(
            id="s1",
            scorer_id="sc",
            score=0.5,
            run_id="r1",
            trace_id="tr",
            entity_type="agent",
            entity_id="a",
        )
    )
    for kwargs in (
        {},
        {"scorer_id": "sc"},
        {"run_id": "r1"},
        {"trace_id": "tr"},
        {"entity_type": "agent", "entity_id": "a"},
    ):
        assert sc.list_scores(**kwargs).total == 1
    assert "dynamodb.Scan" not in log.calls
    assert sum(log.calls.values()) > 30


def test_a_thread_too_big_for_one_item_is_refused_before_writing(dyn: Any) -> None:
    store, log = dyn
    log.reset()
    for thread in (Thread(id="t", resource_id="u1", metadata={"k": "x" * 500_000}),
                   Thread(id="t", resource_id="u1", title="x" * 500_000)):
        with pytest.raises(ItemTooLargeError):
            store.memory.save_thread(thread)
    assert "dynamodb.TransactWriteItems" not in log.calls
    assert store.memory.get_thread("t") is None


# --- thread and resource documents (issue 11, item 12) ------------------------------------


def _item(store: Any, pk: str, sk: str) -> dict[str, Any]:
    [found] = [i for i in _raw(store, pk) if i["sk"]["S"] == sk]
    return found


def test_thread_metadata_too_big_for_the_item_overflows_like_every_attribute(dyn_s3: Any) -> None:
    store, _ = dyn_s3  # offload threshold 4 KiB
    big = {"k": "x" * 5000, "n": [1, 2.5, None, True]}
    store.memory.save_thread(Thread(id="t", resource_id="u1", metadata=big))
    item = _item(store, "THREAD#t", "THREAD")
    assert "metadata" not in item and item["metadata_ref"]["S"].startswith("s3://")
    assert "/offload/memory/t/metadata/" in item["metadata_ref"]["S"]
    assert item_size(item) <= 4096
    assert store.memory.get_thread("t").metadata == big
    # a merge into offloaded metadata reads, merges and rewrites it (nothing is lost)
    updated = store.memory.update_thread("t", metadata={"added": 1})
    assert updated.metadata == {**big, "added": 1}
    assert store.memory.get_thread("t").metadata == {**big, "added": 1}
    [listed] = store.memory.list_threads(resource_id="u1").items
    assert listed.metadata == {**big, "added": 1}
    # the replaced blob is gone; deleting the thread removes the current one
    current = _item(store, "THREAD#t", "THREAD")["metadata_ref"]["S"]
    assert current != item["metadata_ref"]["S"]
    with pytest.raises(NotFoundError):
        store.blobs.get(item["metadata_ref"]["S"])
    store.memory.delete_thread("t")
    with pytest.raises(NotFoundError):
        store.blobs.get(current)


def test_merges_that_grow_a_thread_past_the_threshold_overflow(dyn_s3: Any) -> None:
    store, log = dyn_s3
    store.memory.save_thread(Thread(id="t", resource_id="u1"))
    log.reset()
    store.memory.update_thread("t", title="renamed")  # small: one UpdateItem, as before
    assert _ops(log) == {"UpdateItem": 1}
    for i in range(6):  # 6 x 1 KB crosses the 4 KiB threshold
        store.memory.update_thread("t", metadata={f"k{i}": "y" * 1000})
    item = _item(store, "THREAD#t", "THREAD")
    assert "metadata_ref" in item and item_size(item) <= 4096
    thread = store.memory.get_thread("t")
    assert thread.metadata == {f"k{i}": "y" * 1000 for i in range(6)}
    assert thread.title == "renamed"


def test_update_thread_gives_the_verdict_of_save_thread(dyn: Any) -> None:
    store, _ = dyn
    store.memory.save_thread(Thread(id="t", resource_id="u1", metadata={"a": 1}))
    with pytest.raises(ItemTooLargeError, match="metadata"):
        store.memory.update_thread("t", metadata={"big": "x" * 500_000})
    with pytest.raises(ItemTooLargeError, match="title"):
        store.memory.update_thread("t", title="x" * 500_000)
    with pytest.raises(ItemTooLargeError) as caught:
        store.memory.save_thread(Thread(id="t", resource_id="u1", title="x" * 500_000))
    assert "'title'" in str(caught.value) and "'metadata'" not in str(caught.value)
    assert store.memory.get_thread("t").metadata == {"a": 1}
    # grown by merges past the threshold: refused at the merge that crosses it
    for i in range(3):
        store.memory.update_thread("t", metadata={f"k{i}": "y" * 100_000})
    with pytest.raises(ItemTooLargeError):
        store.memory.update_thread("t", metadata={"k3": "y" * 100_000})
    assert sorted(store.memory.get_thread("t").metadata) == ["a", "k0", "k1", "k2"]


def test_a_big_working_memory_overflows_and_small_edits_stay_in_place(dyn_s3: Any) -> None:
    store, log = dyn_s3
    store.memory.update_resource("u1", working_memory="small", metadata={"a": 1})
    log.reset()
    store.memory.update_resource("u1", working_memory="still small")
    assert _ops(log) == {"UpdateItem": 1}
    notes = "# notes\n" + "z" * 8000
    assert store.memory.update_resource("u1", working_memory=notes).working_memory == notes
    item = _item(store, "RES#u1", "RESOURCE")
    assert "working_memory" not in item and "/offload/resources/u1/" in item[
        "working_memory_ref"]["S"]
    resource = store.memory.get_resource("u1")
    assert (resource.working_memory, resource.metadata) == (notes, {"a": 1})
    store.memory.update_resource("u1", working_memory="short again")
    item = _item(store, "RES#u1", "RESOURCE")
    assert item["working_memory"]["S"] == "short again" and "working_memory_ref" not in item
    assert store.memory.get_resource("u1").working_memory == "short again"


@pytest.mark.parametrize("kind", ["thread", "resource"])
def test_concurrent_merges_across_the_threshold_lose_no_key(dyn_s3: Any, kind: str) -> None:
    # 12 writers, 600 bytes each, on a 4 KiB threshold: some merge in place, the ones
    # that cross rewrite the item whole (and offload it) on a version condition.
    store, _ = dyn_s3
    if kind == "thread":
        store.memory.save_thread(Thread(id="t", resource_id="u1", metadata={"base": 0}))
    else:
        store.memory.update_resource("u1", metadata={"base": 0})
    barrier = threading.Barrier(12)

    def merge(i: int) -> None:
        barrier.wait()
        patch = {f"k{i}": "v" * 600}
        if kind == "thread":
            store.memory.update_thread("t", metadata=patch)
        else:
            store.memory.update_resource("u1", metadata=patch)

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(merge, range(12)))
    read = store.memory.get_thread("t") if kind == "thread" else store.memory.get_resource("u1")
    assert read.metadata == {"base": 0, **{f"k{i}": "v" * 600 for i in range(12)}}


def test_a_thread_written_before_size_tracking_is_sized_on_its_first_update(dyn: Any) -> None:
    store, log = dyn
    store.memory.save_thread(Thread(id="t", resource_id="u1", metadata={"a": 1}))
    memory = store.memory
    memory.dynamo.call("UpdateItem", TableName=memory.table,
                       Key={"pk": {"S": "THREAD#t"}, "sk": {"S": "THREAD"}},
                       UpdateExpression="REMOVE item_bytes, doc_version")
    log.reset()
    assert memory.update_thread("t", metadata={"b": 2}).metadata == {"a": 1, "b": 2}
    assert _ops(log) == {"UpdateItem": 2, "GetItem": 1}  # the fast path, then read + write
    assert "item_bytes" in _item(store, "THREAD#t", "THREAD")
    log.reset()
    memory.update_thread("t", metadata={"c": 3})
    assert _ops(log) == {"UpdateItem": 1}


def test_updating_offloaded_content_deletes_the_version_no_item_points_at(dyn_s3: Any) -> None:
    store, _ = dyn_s3
    store.memory.save_thread(Thread(id="t", resource_id="u1"))
    store.memory.save_messages([_msg("t", 0, "a" * 10_000)])
    [before] = [i for i in _raw(store, "THREAD#t") if "content_ref" in i]
    store.memory.update_messages(
        [MessageUpdate(id="t-000", content={"parts": [{"type": "text", "text": "b" * 10_000}]})]
    )
    [after] = [i for i in _raw(store, "THREAD#t") if "content_ref" in i]
    assert after["content_ref"] != before["content_ref"]
    with pytest.raises(NotFoundError):
        store.blobs.get(before["content_ref"]["S"])
    assert store.memory.get_messages(["t-000"])[0].text == "b" * 10_000
