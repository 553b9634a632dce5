"""The worker Lambda with SQS batch events: jobs run, failures are reported per record."""

from __future__ import annotations

import json
import uuid
from typing import Any

from agents import Agent, App, Memory, SQSJobRunner
from handlers import _wiring
from handlers.events import LocalContext
from handlers.worker import handler
from storage.records import Message, Thread


def sqs_event(*bodies: str) -> dict[str, Any]:
    """An SQS -> Lambda event, one record per body (the real record shape)."""
    return {"Records": [{
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"handle-{n}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                       "SenderId": "AIDTEST", "ApproximateFirstReceiveTimestamp": "1700000000001"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:stowage-jobs",
        "awsRegion": "us-east-1",
    } for n, body in enumerate(bodies)]}


def _seed(app: App, thread_id: str, *, title: str | None = None) -> None:
    app.storage.memory.save_thread(Thread(id=thread_id, resource_id="u-1", title=title))
    app.storage.memory.save_messages([Message(
        id=f"m-{thread_id}", thread_id=thread_id, role="user",
        content={"format": 2, "parts": [{"type": "text", "text": "plan a trip to Lisbon"}]})])


def title_job(thread_id: str, agent: str = "assistant") -> str:
    return json.dumps({"kind": "title", "agent": agent, "thread": thread_id, "resource": "u-1"})


def test_batch_reports_only_the_failing_records(app: App) -> None:
    _seed(app, "t-new")
    _seed(app, "t-titled", title="Set by the user")
    event = sqs_event(
        title_job("t-new"),
        title_job("t-x", agent="nobody"),    # unknown agent
        "{not json",                        # malformed body
        title_job("t-titled"),              # already titled: nothing to do
        title_job("t-gone"),                # thread does not exist
    )
    result = handler(event, LocalContext())
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    ids = [r["messageId"] for r in event["Records"]]
    assert failed == {ids[1], ids[2], ids[4]}
    assert app.storage.memory.get_thread("t-new").title
    assert app.storage.memory.get_thread("t-titled").title == "Set by the user"


def test_a_retried_title_job_keeps_the_first_title(app: App) -> None:
    _seed(app, "t-1")
    handler(sqs_event(title_job("t-1")), LocalContext())
    first = app.storage.memory.get_thread("t-1").title
    app.storage.memory.update_thread("t-1", title="Renamed meanwhile")
    result = handler(sqs_event(title_job("t-1")), LocalContext())
    assert result["batchItemFailures"] == []
    assert first and app.storage.memory.get_thread("t-1").title == "Renamed meanwhile"


def test_jobs_travel_through_sqs_from_generate_to_the_worker(store: Any) -> None:
    from moto import mock_aws

    with mock_aws():
        import boto3

        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="stowage-jobs")["QueueUrl"]
        app = App(agents=[Agent(id="assistant", model="local/echo",
                                memory=Memory(generate_title=True))],
                  storage=store, jobs=SQSJobRunner(queue_url, client=sqs))
        _wiring.use_app(app)
        # Given a generate whose title job went to the queue
        app.get_agent("assistant").generate("plan a trip", memory={"thread": "t-1",
                                                                    "resource": "u-1"})
        assert app.storage.memory.get_thread("t-1").title is None
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        # When the worker gets the queue's messages as a Lambda event
        result = handler(sqs_event(*(m["Body"] for m in received)), LocalContext())
        # Then the thread has a title
        assert result["batchItemFailures"] == []
        assert app.storage.memory.get_thread("t-1").title
