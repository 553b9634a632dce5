"""Retention in the stack: TTL, the expiry stream consumer and the prune schedule.

Each is present only when a retention age needs it: the default deployment has none
of them (spans aside, which expire by default), a DynamoDB deployment with thread
retention streams its memory table into the expiry function, and a PostgreSQL one
runs the prune on a schedule. cdk-nag ran in every synth (an unacknowledged finding
fails it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import constants as c
from infra.config import ConfigError, StowageConfig
from infra.constructs.retention import EXPIRY_RETRIES
from storage.lifecycle import Retention

from .conftest import Synth, _synth

DYNAMODB_RETENTION: dict[str, Any] = {
    "stage": "dev",
    "retention": {"threads": "90d", "runs": "30d", "spans": "14d", "scores": "180d"},
}
POSTGRES_RETENTION: dict[str, Any] = {
    "stage": "prod",
    "postgres": "true",
    "postgresDomains": "workflows,scores",
    "auth": "cognito",
    "retention": "threads=30d,runs=7d,scores=1w",
    "pruneIntervalHours": "6",
}


@pytest.fixture(scope="session")
def aged(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """DynamoDB for everything, every domain with an age."""
    return _synth(tmp_path_factory, "aged", DYNAMODB_RETENTION)


@pytest.fixture(scope="session")
def aged_pg(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Runs and scores in Aurora with ages, threads on DynamoDB with an age."""
    return _synth(tmp_path_factory, "aged_pg", POSTGRES_RETENTION)


def _table(synth: Synth, domain: str) -> dict[str, Any]:
    table = synth.stack.storage.tables[domain]
    return dict(synth.raw["Resources"][synth.logical_id(table)]["Properties"])


def _function(synth: Synth, handler: str) -> tuple[str, dict[str, Any]] | None:
    found = [
        (k, v["Properties"]) for k, v in synth.resources("AWS::Lambda::Function").items()
        if v["Properties"]["Handler"] == handler
    ]
    return found[0] if found else None


# --- without retention ----------------------------------------------------------------


def test_without_retention_there_is_no_stream_consumer_schedule_or_thread_ttl(
    dev: Synth,
) -> None:
    memory = _table(dev, "memory")
    assert "TimeToLiveSpecification" not in memory
    assert "StreamSpecification" not in memory
    # Spans expired before retention existed, and still do by default.
    assert _table(dev, "observability")["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at", "Enabled": True,
    }
    assert _function(dev, c.EXPIRY_HANDLER) is None
    assert _function(dev, c.PRUNE_HANDLER) is None
    assert dev.resources("AWS::Events::Rule") == {}


# --- DynamoDB --------------------------------------------------------------------------


def test_every_aged_table_has_ttl_on_expires_at(aged: Synth) -> None:
    for domain in c.DOMAINS:
        assert _table(aged, domain)["TimeToLiveSpecification"] == {
            "AttributeName": "expires_at", "Enabled": True,
        }, domain


def test_the_memory_table_streams_old_images_into_the_expiry_function(aged: Synth) -> None:
    memory = _table(aged, "memory")
    assert memory["StreamSpecification"] == {"StreamViewType": "OLD_IMAGE"}
    expiry = _function(aged, c.EXPIRY_HANDLER)
    assert expiry is not None
    expiry_id, props = expiry
    (mapping,) = [
        r["Properties"] for r in aged.resources("AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": expiry_id}
    ]
    table_id = aged.logical_id(aged.stack.storage.tables["memory"])
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == EXPIRY_RETRIES
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    dlq_id = aged.logical_id(aged.stack.retention.expiry_dlq)
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    }
    # Only TTL deletes of thread items invoke it.
    (pattern,) = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert pattern == {
        "eventName": ["REMOVE"],
        "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
        "dynamodb": {"OldImage": {"sk": {"S": ["THREAD"]}}},
    }
    env = props["Environment"]["Variables"]
    assert Retention.parse(env["STOWAGE_RETENTION"]) == aged.stack.config.retention
    assert env["STOWAGE_SETUP"] == "deploy"


def test_the_expiry_function_may_write_the_memory_table_and_delete_blobs_only(
    aged: Synth,
) -> None:
    _, props = _function(aged, c.EXPIRY_HANDLER) or ("", {})
    role = props["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for r in aged.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    text = json.dumps(statements)
    memory_id = aged.logical_id(aged.stack.storage.tables["memory"])
    for other in ("workflows", "observability", "scores"):
        assert aged.logical_id(aged.stack.storage.tables[other]) not in text
    assert memory_id in text
    assert "dynamodb:GetRecords" in text  # the stream, granted by the event source
    assert "s3:DeleteObject" in text and "s3:PutObject" not in text
    assert "bedrock" not in text


def test_offloaded_objects_of_ttl_domains_expire_a_day_after_their_items(aged: Synth) -> None:
    bucket = aged.raw["Resources"][aged.logical_id(aged.stack.storage.bucket)]
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-offloaded-workflows"]["Prefix"] == "blobs/offload/workflows/"
    assert rules["expire-offloaded-workflows"]["ExpirationInDays"] == 31
    assert rules["expire-offloaded-observability"]["ExpirationInDays"] == 15
    assert rules["expire-offloaded-scores"]["ExpirationInDays"] == 181
    assert "expire-offloaded-memory" not in rules  # threads cascade through the stream


def test_no_schedule_when_every_domain_is_on_dynamodb(aged: Synth) -> None:
    assert _function(aged, c.PRUNE_HANDLER) is None
    assert aged.resources("AWS::Events::Rule") == {}


# --- PostgreSQL ------------------------------------------------------------------------


def test_aurora_domains_with_an_age_are_pruned_on_a_schedule(aged_pg: Synth) -> None:
    prune = _function(aged_pg, c.PRUNE_HANDLER)
    assert prune is not None
    prune_id, props = prune
    (rule,) = [r["Properties"] for r in aged_pg.resources("AWS::Events::Rule").values()]
    assert rule["ScheduleExpression"] == "rate(6 hours)"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [prune_id, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}
    dlq_id = aged_pg.logical_id(aged_pg.stack.retention.prune_dlq)
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert props["Timeout"] == 900
    text = json.dumps(aged_pg.resources("AWS::IAM::Policy"))
    assert "rds-data:ExecuteStatement" in text
    # Threads are on DynamoDB there: they expire by TTL, cascaded by the stream.
    assert _function(aged_pg, c.EXPIRY_HANDLER) is not None
    assert "TimeToLiveSpecification" not in _table(aged_pg, "workflows")


# --- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"thread": "90d"}, "'thread'"),
        ({"threads": "ninety days"}, "ninety days"),
        ("threads=90d,runs", "runs"),
        (["threads=90d"], "object"),
    ],
)
def test_bad_retention_context_stops_the_synth_naming_it(value: Any, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        StowageConfig.from_context({"retention": value})


def test_spans_default_to_span_retention_days_and_can_be_kept_forever() -> None:
    config = StowageConfig.from_context({"spanRetentionDays": "9"})
    assert str(config.retention) == "spans=9d"
    forever = StowageConfig.from_context({"retention": {"spans": "forever"}})
    assert forever.retention == Retention()


def test_the_retention_functions_and_dead_letters_are_alarmed(aged: Synth, aged_pg: Synth) -> None:
    assert {"expiryErrors", "expiryDlqDepth"} <= set(aged.stack.monitoring.alarms)
    assert {"pruneErrors", "pruneDlqDepth", "expiryDlqDepth"} <= set(
        aged_pg.stack.monitoring.alarms
    )
