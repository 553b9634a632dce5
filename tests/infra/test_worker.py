"""Jobs queue, dead-letter queue and the worker's event source."""

from __future__ import annotations

import json

from infra.constants import WORKER_HANDLER
from infra.constructs.worker import MAX_RECEIVE_COUNT, WORKER_TIMEOUT

from .conftest import Synth


def _queues(synth: Synth) -> tuple[tuple[str, dict], tuple[str, dict]]:
    """(jobs queue, dlq) as (logical id, properties)."""
    queues = synth.resources("AWS::SQS::Queue")
    (jobs,) = [
        (k, v["Properties"]) for k, v in queues.items() if "RedrivePolicy" in v["Properties"]
    ]
    (dlq,) = [(k, v["Properties"]) for k, v in queues.items() if k != jobs[0]]
    return jobs, dlq


def test_jobs_queue_redrives_to_the_dlq(synth: Synth) -> None:
    (_, jobs), (dlq_id, dlq) = _queues(synth)

    assert jobs["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    # Six times the worker's timeout, so a running batch is not redelivered.
    assert jobs["VisibilityTimeout"] == 6 * WORKER_TIMEOUT.to_seconds()
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    for props in (jobs, dlq):
        assert props["SqsManagedSseEnabled"] is True


def test_queues_refuse_plain_http(synth: Synth) -> None:
    policies = [r["Properties"] for r in synth.resources("AWS::SQS::QueuePolicy").values()]
    (jobs_id, _), (dlq_id, _) = _queues(synth)
    for queue_id in (jobs_id, dlq_id):
        (policy,) = [p for p in policies if {"Ref": queue_id} in p["Queues"]]
        (statement,) = policy["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_worker_reports_partial_batch_failures(synth: Synth) -> None:
    (jobs_id, _), _ = _queues(synth)
    mappings = synth.resources("AWS::Lambda::EventSourceMapping").values()
    (mapping,) = [r["Properties"] for r in mappings]
    worker_id = next(
        k
        for k, v in synth.resources("AWS::Lambda::Function").items()
        if v["Properties"]["Handler"] == WORKER_HANDLER
    )

    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [jobs_id, "Arn"]}
    assert mapping["FunctionName"] == {"Ref": worker_id}
    assert mapping["BatchSize"] == 10


def test_api_and_stream_functions_know_the_queue_and_the_worker_does_not(synth: Synth) -> None:
    (jobs_id, _), _ = _queues(synth)
    for resource in synth.resources("AWS::Lambda::Function").values():
        props = resource["Properties"]
        if props["Handler"] not in ("handlers.api.handler", "run.sh", WORKER_HANDLER):
            continue
        env = props["Environment"]["Variables"]
        if props["Handler"] == WORKER_HANDLER:
            assert "STOWAGE_JOBS_QUEUE_URL" not in env
        else:
            assert env["STOWAGE_JOBS_QUEUE_URL"] == {"Ref": jobs_id}
            assert json.dumps(env).count(jobs_id) == 1
