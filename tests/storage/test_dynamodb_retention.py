"""DynamoDB retention: TTL attributes at no extra request, and the TTL cascade consumer.

The consumer test feeds ``handlers.expiry`` the record DynamoDB Streams produces for
a deleted thread item (read from moto's stream of the memory table), marked as
DynamoDB's TTL marks its deletes (``userIdentity`` principal
``dynamodb.amazonaws.com``), and checks by scanning the whole table and listing the
bucket that nothing of the thread is left, and that the other threads are untouched.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config

from handlers.events import LocalContext
from storage.keys import attachment_key
from storage.lifecycle import Retention
from storage.records import Message, MessageVector, Score, Span
from storage.timeutil import utcnow
from tests.storage.conformance import raw
from tests.storage.conformance.helpers import content, make_thread, uid
from tests.storage.dynamodb_support import moto_dynamodb

RETENTION = Retention(
    threads=timedelta(days=90), runs=timedelta(days=30), spans=timedelta(days=14),
    scores=timedelta(days=180),
)


@pytest.fixture
def dyn() -> Iterator[tuple[Any, Any]]:
    import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (the vector index fake)

    with moto_dynamodb(with_s3=True, vector_dimensions=3) as (store, log):
        store.attach_retention(RETENTION)
        yield store, log


def _item(store: Any, table: str, pk: str, sk: str) -> dict[str, Any]:
    out = store.memory.dynamo.client.get_item(
        TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}
    )
    return dict(out["Item"])


def _expiry(when: Any, age: timedelta) -> int:
    return math.ceil((when + age).timestamp())


# --- TTL attributes -----------------------------------------------------------------


def test_a_turn_refreshes_the_thread_expiry_in_its_one_transaction(dyn: Any) -> None:
    store, log = dyn
    thread = make_thread(uid("res"), thread_id=uid("thr"))
    store.memory.save_thread(thread)
    item = _item(store, store.memory.table, f"THREAD#{thread.id}", "THREAD")
    assert int(item["expires_at"]["N"]) == _expiry(thread.updated_at, timedelta(days=90))
    log.reset()
    saved = store.memory.save_messages(
        [Message(id=uid("m"), thread_id=thread.id, role="user", content=content("hi"),
                 created_at=utcnow())]
    )
    # The expiry rides in the turn's one transaction: no UpdateItem of its own.
    assert log.calls["dynamodb.TransactWriteItems"] == 1
    assert set(log.calls) == {"dynamodb.TransactWriteItems", "dynamodb.BatchGetItem"}
    stored = store.memory.get_thread(thread.id)
    item = _item(store, store.memory.table, f"THREAD#{thread.id}", "THREAD")
    assert int(item["expires_at"]["N"]) == _expiry(stored.updated_at, timedelta(days=90))
    assert saved and stored.updated_at > thread.updated_at


def test_renaming_a_thread_refreshes_its_expiry(dyn: Any) -> None:
    store, _ = dyn
    thread = make_thread(uid("res"), thread_id=uid("thr"))
    store.memory.save_thread(thread)
    renamed = store.memory.update_thread(thread.id, title="renamed", metadata={"k": 1})
    item = _item(store, store.memory.table, f"THREAD#{thread.id}", "THREAD")
    assert int(item["expires_at"]["N"]) == _expiry(renamed.updated_at, timedelta(days=90))
    assert renamed.updated_at > thread.updated_at


def test_a_turn_costs_the_same_requests_with_retention_as_without() -> None:
    calls = []
    for retention in (Retention(), RETENTION):
        with moto_dynamodb(with_s3=True) as (store, log):
            store.attach_retention(retention)
            thread = make_thread(uid("res"), thread_id=uid("thr"))
            store.memory.save_thread(thread)
            log.reset()
            for turn in range(3):
                store.memory.save_messages(
                    [Message(id=uid("m"), thread_id=thread.id, role=role,
                             content=content(f"{role} {turn}"), created_at=utcnow())
                     for role in ("user", "assistant")]
                )
            store.memory.update_thread(thread.id, title="t")
            calls.append(dict(log.calls))
    assert calls[0] == calls[1]


def test_runs_spans_and_scores_get_their_expiry_at_write_time(dyn: Any) -> None:
    store, _ = dyn
    store.workflows.persist_snapshot("wf", "run-1", {"status": "running"})
    run = store.workflows.get_run("run-1")
    item = _item(store, store.workflows.table, "RUN#run-1", "WF#wf")
    assert int(item["expires_at"]["N"]) == _expiry(run.created_at, timedelta(days=30))
    # A later save keeps the first expiry, as it keeps created_at.
    store.workflows.persist_snapshot("wf", "run-1", {"status": "success"})
    assert _item(store, store.workflows.table, "RUN#run-1", "WF#wf")["expires_at"] == \
        item["expires_at"]
    started = utcnow() - timedelta(days=3)
    store.observability.create_spans(
        [Span(trace_id="tr", span_id="sp", name="n", span_type="t", started_at=started)]
    )
    span = _item(store, store.observability.table, "TRACE#tr", "SPAN#sp")
    assert int(span["expires_at"]["N"]) == _expiry(started, timedelta(days=14))
    created = utcnow() - timedelta(days=1)
    store.scores.save_score(Score(id="sc", scorer_id="s", score=1.0, run_id="run-1",
                                  created_at=created))
    score = _item(store, store.scores.table, "SCORE#sc", "SCORE")
    assert int(score["expires_at"]["N"]) == _expiry(created, timedelta(days=180))


def test_without_an_age_writes_carry_no_expiry_and_clear_an_old_one(dyn: Any) -> None:
    store, _ = dyn
    thread = make_thread(uid("res"), thread_id=uid("thr"))
    store.memory.save_thread(thread)
    assert "expires_at" in _item(store, store.memory.table, f"THREAD#{thread.id}", "THREAD")
    store.attach_retention(Retention(spans=timedelta(days=1)))
    store.memory.save_messages(
        [Message(id=uid("m"), thread_id=thread.id, role="user", content=content("x"),
                 created_at=utcnow())]
    )
    assert "expires_at" not in _item(store, store.memory.table, f"THREAD#{thread.id}", "THREAD")
    store.workflows.persist_snapshot("wf", "run-2", {"status": "running"})
    assert "expires_at" not in _item(store, store.workflows.table, "RUN#run-2", "WF#wf")


def test_prune_deletes_now_what_was_written_before_retention(dyn: Any) -> None:
    store, _ = dyn
    store.attach_retention(Retention())
    old = utcnow() - timedelta(days=100)
    thread = make_thread(uid("res"), thread_id=uid("thr"))
    store.memory.save_thread(replace(thread, created_at=old, updated_at=old))
    assert "expires_at" not in _item(store, store.memory.table, f"THREAD#{thread.id}", "THREAD")
    receipt = store.prune(retention=RETENTION)
    assert receipt.counts["threads"] == 1 and not receipt.skipped
    assert raw.mentioning(store, thread.id) == []


# --- the TTL cascade (handlers.expiry) ----------------------------------------------------


def _enable_stream(store: Any) -> Any:
    client = store.memory.dynamo.client
    client.update_table(
        TableName=store.memory.table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    arn = client.describe_table(TableName=store.memory.table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1",
                           config=Config(account_id_endpoint_mode="disabled"))
    return streams, arn


def _stream_records(streams: Any, arn: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    return records


def _as_ttl_delete(record: dict[str, Any]) -> dict[str, Any]:
    """The record as DynamoDB Streams delivers a TTL delete to Lambda."""
    event = {k: v for k, v in record.items() if k != "dynamodb"}
    event["dynamodb"] = dict(record["dynamodb"])
    for stamp in ("ApproximateCreationDateTime",):
        if stamp in event["dynamodb"] and not isinstance(event["dynamodb"][stamp], int | float):
            event["dynamodb"][stamp] = int(event["dynamodb"][stamp].timestamp())
    event["eventSource"] = "aws:dynamodb"
    event["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    # TTL deletes an item only once its expires_at is past: the test deletes it right
    # after its last write, so the image says it expired then (handlers.expiry refuses
    # an image whose expiry is still to come: storage.dynamodb.retention).
    image = dict(event["dynamodb"].get("OldImage") or {})
    if "updated_at" in image:
        image["expires_at"] = {"N": str(math.ceil(int(image["updated_at"]["N"]) / 1000))}
        event["dynamodb"]["OldImage"] = image
    return event


def _seed(store: Any, resource_id: str, *, big: bool = False) -> str:
    thread = make_thread(resource_id, thread_id=uid("thr"))
    store.memory.save_thread(thread)
    saved = store.memory.save_messages(
        [Message(id=uid("m"), thread_id=thread.id, role="user",
                 content=content("x" * (400_000 if big and i == 0 else 10)),
                 created_at=utcnow() + timedelta(milliseconds=i)) for i in range(4)]
    )
    # Semantic recall's vectors, attributes of the message items.
    store.vectors.upsert([
        MessageVector(message_id=m.id, thread_id=m.thread_id, resource_id=m.resource_id,
                      created_at=m.created_at, vector=(1.0, 0.0, 0.0), embedder="test/3")
        for m in saved
    ])
    store.blobs.put(attachment_key(resource_id, thread.id, "cd" * 32), b"attachment")
    return thread.id


@pytest.fixture
def expiry_handler(dyn: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import handlers.expiry as expiry

    monkeypatch.setattr(expiry, "get_app", lambda: SimpleNamespace(storage=dyn[0]))
    return expiry.handler


def test_a_ttl_delete_of_a_thread_removes_everything_under_it(
    dyn: Any, expiry_handler: Any
) -> None:
    store, _ = dyn
    streams, arn = _enable_stream(store)
    resource = uid("res")
    doomed = _seed(store, resource, big=True)  # one message offloaded to S3
    kept = _seed(store, resource)
    kept_lines = raw.mentioning(store, kept)
    assert any("offload/memory" in line for line in raw.mentioning(store, doomed))
    assert sum("'vec':" in line for line in raw.mentioning(store, doomed)) == 4
    # Given DynamoDB's TTL deleting the thread item (and only it)
    store.memory.dynamo.client.delete_item(
        TableName=store.memory.table, Key={"pk": {"S": f"THREAD#{doomed}"}, "sk": {"S": "THREAD"}}
    )
    removes = [r for r in _stream_records(streams, arn) if r["eventName"] == "REMOVE"]
    assert len(removes) == 1
    event = {"Records": [_as_ttl_delete(removes[0])]}
    # When the consumer gets the stream record
    response = expiry_handler(event, LocalContext())
    # Then nothing of the thread is left in the table or the bucket
    assert response == {"batchItemFailures": []}
    assert [line for line in raw.mentioning(store, doomed) if "EXPIRED#" not in line] == []
    assert raw.mentioning(store, kept) == kept_lines
    page = store.memory.list_threads(resource_id=resource)
    assert [t.id for t in page.items] == [kept] and page.total == 1
    # And a redelivered record changes nothing (the count is not decremented twice)
    before = raw.dump(store)
    assert expiry_handler(event, LocalContext()) == {"batchItemFailures": []}
    assert raw.dump(store) == before
    assert store.memory.list_threads(resource_id=resource).total == 1


def test_a_users_delete_and_other_items_are_ignored(dyn: Any, expiry_handler: Any) -> None:
    store, _ = dyn
    streams, arn = _enable_stream(store)
    resource = uid("res")
    thread_id = _seed(store, resource)
    kept = _seed(store, resource)
    store.memory.delete_thread(thread_id)  # a user's delete: the stream shows REMOVEs
    removes = [r for r in _stream_records(streams, arn) if r["eventName"] == "REMOVE"]
    assert removes
    before = raw.dump(store)
    user_deletes = {"Records": [{**r, "eventSource": "aws:dynamodb"} for r in removes]}
    assert expiry_handler(user_deletes, LocalContext()) == {"batchItemFailures": []}
    # TTL deletes of items that are not threads (tombstones) are ignored too.
    not_threads = {"Records": [_as_ttl_delete(r) for r in removes
                               if r["dynamodb"]["Keys"]["sk"]["S"] != "THREAD"]}
    assert expiry_handler(not_threads, LocalContext()) == {"batchItemFailures": []}
    assert raw.dump(store) == before
    assert store.memory.get_thread(kept) is not None


def test_a_failing_cascade_is_reported_and_a_retry_finishes_it(
    dyn: Any, expiry_handler: Any
) -> None:
    store, _ = dyn
    streams, arn = _enable_stream(store)
    resource = uid("res")
    doomed = _seed(store, resource)
    store.memory.dynamo.client.delete_item(
        TableName=store.memory.table, Key={"pk": {"S": f"THREAD#{doomed}"}, "sk": {"S": "THREAD"}}
    )
    (remove,) = [r for r in _stream_records(streams, arn) if r["eventName"] == "REMOVE"]
    event = {"Records": [_as_ttl_delete(remove)]}
    # Given an S3 failure after the items went
    with raw.fail_blob_deletes_after(store, 0):
        response = expiry_handler(event, LocalContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": remove["dynamodb"][
        "SequenceNumber"]}]}
    # When the stream retries the record, the cascade finishes (counted once)
    assert expiry_handler(event, LocalContext()) == {"batchItemFailures": []}
    assert [line for line in raw.mentioning(store, doomed) if "EXPIRED#" not in line] == []
    assert store.memory.list_threads(resource_id=resource).total == 0


def test_a_thread_recreated_under_the_expired_id_keeps_its_new_messages(
    dyn: Any, expiry_handler: Any
) -> None:
    store, _ = dyn
    streams, arn = _enable_stream(store)
    first, second = uid("res"), uid("res")
    thread_id = _seed(store, first, big=True)
    old_ids = [m.id for m in store.memory.list_messages(thread_id, per_page=None).items]
    store.memory.dynamo.client.delete_item(
        TableName=store.memory.table,
        Key={"pk": {"S": f"THREAD#{thread_id}"}, "sk": {"S": "THREAD"}},
    )
    (remove,) = [r for r in _stream_records(streams, arn) if r["eventName"] == "REMOVE"]
    # Given another tenant taking the free id before the stream record is handled
    store.memory.save_thread(make_thread(second, thread_id=thread_id))
    new = Message(id=uid("m"), thread_id=thread_id, role="user", content=content("mine"),
                  created_at=utcnow() + timedelta(seconds=5))
    store.memory.save_messages([new])
    store.blobs.put(attachment_key(second, thread_id, "ef" * 32), b"theirs")
    # When the expiry of the first incarnation is handled
    assert expiry_handler({"Records": [_as_ttl_delete(remove)]}, LocalContext()) == {
        "batchItemFailures": []
    }
    # Then the new thread is whole and nothing of the old one is left
    page = store.memory.list_messages(thread_id, per_page=None)
    assert [m.id for m in page.items] == [new.id]
    for old in old_ids:
        assert raw.mentioning(store, old) == []
    assert raw.mentioning(store, first) == [] or all(
        "EXPIRED#" in line or "COUNT" in line for line in raw.mentioning(store, first)
    )
    assert store.memory.list_threads(resource_id=first).total == 0
    assert store.memory.list_threads(resource_id=second).total == 1
    assert [k for k in raw.blob_keys(store.blobs) if "offload/memory" in k] == []
    assert any(second in k for k in raw.blob_keys(store.blobs))
