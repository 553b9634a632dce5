"""Fault injection: each failure, then the state left behind.

* S3 put fails during an offload: the caller gets a clear error, no DynamoDB item
  points at a missing object, earlier data is intact.
* A DynamoDB transaction is throttled or cancelled: nothing is partially written;
  botocore's retries (or the caller's) succeed and write the turn exactly once.
* A PostgreSQL connection is terminated mid-transaction: the transaction is rolled
  back and the save either retried to completion or refused with a clear error.
* The worker fails on a job: the SQS message returns to the queue and lands in the
  DLQ after the redrive policy's receive count; titles are never duplicated or
  overwritten.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import moto
import psycopg
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

import storage
from agents import Agent, App, Memory, SQSJobRunner
from agents.models.scripted import ScriptedModel
from handlers import _wiring
from handlers.events import LocalContext
from handlers.worker import handler as worker
from storage import Message, Thread
from storage.dynamodb.offload import Offloader
from tests.reliability.faults import dynamodb_error, failing, s3_error
from tests.reliability.support import EPOCH, backend, outcome
from tests.storage.dynamodb_support import moto_server_endpoint


def turn(thread_id: str, n: int, *, size: int = 20) -> list[Message]:
    """A user message and its answer (``size`` characters each), 1 ms apart."""
    asked = EPOCH + timedelta(seconds=n)
    return [
        Message(id=f"{thread_id}-u{n}", thread_id=thread_id, role="user", created_at=asked,
                content={"format": 2, "parts": [{"type": "text", "text": "q" * size}]}),
        Message(id=f"{thread_id}-a{n}", thread_id=thread_id, role="assistant",
                created_at=asked + timedelta(milliseconds=1),
                content={"format": 2, "parts": [{"type": "text", "text": "a" * size}]}),
    ]


def ids(store: Any, thread_id: str) -> list[str]:
    page = store.memory.list_messages(thread_id, per_page=None)
    assert page.total == len(page.items)
    return [m.id for m in page.items]


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries as configured, without sleeping between attempts."""
    import botocore.endpoint
    import botocore.retries.bucket

    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda _: None))
    monkeypatch.setattr(botocore.retries.bucket.Clock, "sleep", lambda self, amount: None)


@pytest.fixture
def aws(no_backoff: None) -> Iterator[tuple[Any, Any, Any]]:
    """(composite store, DynamoDB store, S3 store): DynamoDB in-process, S3 on a moto server."""
    from storage.dynamodb.store import DynamoDBStore

    with moto.mock_aws():
        dynamo = DynamoDBStore(f"f{secrets.token_hex(4)}", region="us-east-1")
        s3 = storage.open(f"s3://bucket-{secrets.token_hex(4)}/stowage?region=us-east-1"
                          f"&endpoint={moto_server_endpoint()}")
        store = storage.CompositeStore(dynamo, blobs=s3)
        store.setup()
        try:
            yield store, dynamo, s3
        finally:
            store.close()


def every_item(dynamo: Any) -> list[dict[str, Any]]:
    """Every item of every table (a test-side Scan, not the store's client)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict[str, Any]] = []
    for table in client.list_tables()["TableNames"]:
        if table.startswith(dynamo.prefix + "-"):
            for page in client.get_paginator("scan").paginate(TableName=table):
                items.extend(page["Items"])
    return items


# --- S3 ---------------------------------------------------------------------------------

def test_an_s3_put_failing_during_an_offload_leaves_no_dangling_pointer(aws: Any) -> None:
    store, dynamo, s3 = aws
    store.memory.save_thread(Thread(id="t", resource_id="r"))
    store.memory.save_messages(turn("t", 0))
    store.memory.save_messages(turn("t", 1, size=400_000))  # offloaded, both halves
    before = ids(store, "t")
    with failing(s3.blobs.client, "PutObject", **s3_error("InternalError", "boom")) as fault:
        result = outcome(lambda: store.memory.save_messages(turn("t", 2, size=400_000)))
    assert fault.failed >= 1
    assert result == ("err", "UnavailableError")
    assert ids(store, "t") == before
    refs = [uri for item in every_item(dynamo) for uri in Offloader.refs(item)]
    assert refs, "the earlier oversize turn should have been offloaded"
    for uri in refs:
        assert s3.blobs.get(uri)  # every pointer resolves
    # The same turn, retried once S3 is back, is stored whole.
    store.memory.save_messages(turn("t", 2, size=400_000))
    assert ids(store, "t") == [*before, "t-u2", "t-a2"]
    assert store.memory.get_messages(["t-a2"])[0].text == "a" * 400_000


# --- DynamoDB ---------------------------------------------------------------------------

def test_a_throttled_turn_is_retried_by_botocore_and_written_once(aws: Any) -> None:
    store, dynamo, _ = aws
    store.memory.save_thread(Thread(id="t", resource_id="r"))
    fault_args = dynamodb_error("ThrottlingException", "Rate of requests exceeds the allowed")
    with failing(dynamo.dynamo.client, "TransactWriteItems", times=2, **fault_args) as fault:
        store.memory.save_messages(turn("t", 0))
    assert fault.failed == 2
    assert ids(store, "t") == ["t-u0", "t-a0"]


def test_a_turn_that_keeps_being_throttled_writes_nothing(aws: Any) -> None:
    store, dynamo, _ = aws
    store.memory.save_thread(Thread(id="t", resource_id="r"))
    store.memory.save_messages(turn("t", 0))
    thread = store.memory.get_thread("t")
    fault_args = dynamodb_error("ThrottlingException", "Rate of requests exceeds the allowed")
    with failing(dynamo.dynamo.client, "TransactWriteItems", **fault_args):
        result = outcome(lambda: store.memory.save_messages(turn("t", 1)))
    assert result == ("err", "UnavailableError")
    assert ids(store, "t") == ["t-u0", "t-a0"]
    assert store.memory.get_thread("t") == thread  # not bumped either
    store.memory.save_messages(turn("t", 1))  # the caller's retry
    assert ids(store, "t") == ["t-u0", "t-a0", "t-u1", "t-a1"]


def test_a_cancelled_transaction_writes_nothing_and_a_retry_succeeds(aws: Any) -> None:
    store, dynamo, _ = aws
    store.memory.save_thread(Thread(id="t", resource_id="r"))
    thread = store.memory.get_thread("t")
    cancelled = dynamodb_error(
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[TransactionConflict, None, None]",
        CancellationReasons=[{"Code": "TransactionConflict",
                              "Message": "Transaction is ongoing for the item"},
                             {"Code": "None"}, {"Code": "None"}],
    )
    with failing(dynamo.dynamo.client, "TransactWriteItems", times=1, **cancelled) as fault:
        result = outcome(lambda: store.memory.save_messages(turn("t", 0)))
    assert fault.failed == 1
    if result[0] == "err":  # refused: a conflict, and nothing of the turn is visible
        assert result[1] == "ConflictError", result
        assert ids(store, "t") == []
        assert store.memory.get_thread("t") == thread
        store.memory.save_messages(turn("t", 0))
    assert ids(store, "t") == ["t-u0", "t-a0"]
    assert store.memory.list_messages("t").total == 2


# --- PostgreSQL -------------------------------------------------------------------------

@pytest.mark.postgres
def test_a_connection_dropped_mid_transaction_rolls_back(tmp_path: Path) -> None:
    from tests.storage.fakes.pg import session_database

    with backend("postgres").factory(tmp_path) as store:
        url = session_database()
        store.memory.save_thread(Thread(id="t", resource_id="r"))
        store.memory.save_messages(turn("t", 0))
        result: dict[str, Any] = {}
        with psycopg.connect(url) as locker:
            # Hold the thread row, so the save blocks inside its transaction.
            locker.execute("SELECT 1 FROM mastra_threads WHERE id = 't' FOR UPDATE")
            writer = threading.Thread(target=lambda: result.update(
                outcome=outcome(lambda: store.memory.save_messages(turn("t", 1)))))
            writer.start()
            victim = _wait_for_blocked_backend(url, locker)
            with psycopg.connect(url, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [victim])
            time.sleep(0.2)
            locker.rollback()
        writer.join(timeout=60)
        assert not writer.is_alive()
        got = ids(store, "t")
        if result["outcome"][0] == "ok":  # retried on a fresh connection
            assert got == ["t-u0", "t-a0", "t-u1", "t-a1"]
        else:  # a clear error and nothing of the turn
            assert result["outcome"][1] == "UnavailableError", result
            assert got == ["t-u0", "t-a0"]
        # The store works afterwards (the dead connection left the pool).
        store.memory.save_messages(turn("t", 2))
        assert ids(store, "t")[-2:] == ["t-u2", "t-a2"]


def _wait_for_blocked_backend(url: str, locker: Any) -> int:
    mine = locker.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(url, autocommit=True) as probe:
        for _ in range(300):
            row = probe.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> %s", [mine]).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("the save never blocked on the held row")


# --- the worker and SQS -----------------------------------------------------------------

def _event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"],
                       "SentTimestamp": "1700000000000", "SenderId": "AIDTEST",
                       "ApproximateFirstReceiveTimestamp": "1700000000001"},
        "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "awsRegion": "us-east-1",
    } for m in messages]}


def _drain(sqs: Any, queue_url: str, rounds: int = 10) -> int:
    """Poll like Lambda's event source mapping: run the batch, delete what succeeded."""
    deliveries = 0
    for _ in range(rounds):
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                  AttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        deliveries += len(got)
        try:
            result = worker(_event(got), LocalContext())
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        except BatchProcessingError:  # the whole batch failed: Lambda retries all of it
            failed = {m["MessageId"] for m in got}
        for message in got:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return deliveries


@pytest.fixture
def queues() -> Iterator[tuple[Any, str, str]]:
    with moto.mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        queue = sqs.create_queue(QueueName="jobs", Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        })["QueueUrl"]
        yield sqs, queue, dlq
        _wiring.use_app(None)


def _app(sqs: Any, queue: str, title_model: Any) -> App:
    store = storage.open("memory://")
    app = App(agents=[Agent(id="assistant", model="local/echo",
                            memory=Memory(generate_title={"model": title_model}))],
              storage=store, jobs=SQSJobRunner(queue, client=sqs))
    _wiring.use_app(app)
    return app


def test_a_failing_job_returns_to_the_queue_then_lands_in_the_dlq(queues: Any) -> None:
    sqs, queue, dlq = queues
    app = _app(sqs, queue, ScriptedModel([RuntimeError("the title model is down")]))
    app.get_agent("assistant").generate("plan a trip", memory={"thread": "t", "resource": "u"})
    deliveries = _drain(sqs, queue)
    assert deliveries == 3  # maxReceiveCount
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["thread"] for m in dead] == ["t"]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    assert app.storage.memory.get_thread("t").title is None


def test_a_job_delivered_twice_titles_once_and_never_overwrites(queues: Any) -> None:
    sqs, queue, dlq = queues
    app = _app(sqs, queue, ScriptedModel(["Lisbon trip", "Another title"]))
    app.get_agent("assistant").generate("plan a trip", memory={"thread": "t", "resource": "u"})
    # At-least-once delivery: the same job body arrives twice.
    (body,) = [m["Body"] for m in sqs.receive_message(QueueUrl=queue)["Messages"]]
    sqs.send_message(QueueUrl=queue, MessageBody=body)
    assert _drain(sqs, queue) == 2
    assert app.storage.memory.get_thread("t").title == "Lisbon trip"
    app.storage.memory.update_thread("t", title="Renamed by the user")
    sqs.send_message(QueueUrl=queue, MessageBody=body)
    _drain(sqs, queue)
    assert app.storage.memory.get_thread("t").title == "Renamed by the user"
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq)
