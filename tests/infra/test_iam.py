"""Least privilege: each function's statements name specific resources and actions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constants import API_HANDLER, SETUP_HANDLER, STREAM_HANDLER, WORKER_HANDLER

from .conftest import Synth

HANDLERS = {"api": API_HANDLER, "stream": STREAM_HANDLER, "worker": WORKER_HANDLER}
ALL_HANDLERS = {**HANDLERS, "setup": SETUP_HANDLER}


def _statements(synth: Synth, name: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to one function's role."""
    function = next(
        r["Properties"]
        for r in synth.resources("AWS::Lambda::Function").values()
        if r["Properties"]["Handler"] == ALL_HANDLERS[name]
    )
    role_id = function["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def _table_ids(synth: Synth) -> dict[str, str]:
    return {d: synth.logical_id(t) for d, t in synth.stack.storage.tables.items()}


@pytest.mark.parametrize("name", list(ALL_HANDLERS))
def test_no_wildcard_actions_and_star_only_for_xray(synth: Synth, name: str) -> None:
    for statement in _statements(synth, name):
        assert statement["Effect"] == "Allow"
        for action in _actions(statement):
            assert not action.endswith(":*") and action != "*", action
        if "*" in _resources(statement):
            assert set(_actions(statement)) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("api", {"memory": True, "workflows": True, "observability": True, "scores": False}),
        ("stream", {"memory": True, "workflows": True, "observability": True, "scores": False}),
        ("worker", {"memory": True, "workflows": False, "observability": False, "scores": True}),
    ],
)
def test_dynamodb_access_is_per_table_and_per_index(
    dev: Synth, name: str, expected: dict[str, bool]
) -> None:
    tables = _table_ids(dev)
    seen: dict[str, bool] = {}
    for statement in _statements(dev, name):
        actions = [a for a in _actions(statement) if a.startswith("dynamodb:")]
        if not actions:
            continue
        resources = json.dumps(_resources(statement))
        (domain,) = [d for d, lid in tables.items() if lid in resources]
        # The table and its named indexes, never index/*.
        assert "index/*" not in resources
        for index in dev.stack.storage.definitions[domain].indexes:
            assert f"/index/{index.name}" in resources
        assert "dynamodb:Scan" not in actions  # no Scan on any request path
        seen[domain] = "dynamodb:PutItem" in actions
        assert ("dynamodb:DeleteItem" in actions) == seen[domain]
    assert seen == expected


@pytest.mark.parametrize("name", list(HANDLERS))
def test_request_functions_cannot_touch_tables_of_postgres_domains(full: Synth, name: str) -> None:
    tables = _table_ids(full)
    for statement in _statements(full, name):
        resources = json.dumps(_resources(statement))
        for domain in full.stack.config.postgres_domains:
            assert tables[domain] not in resources, (name, domain)


@pytest.mark.parametrize("name", list(HANDLERS))
def test_request_functions_never_describe_or_create_tables(synth: Synth, name: str) -> None:
    # Storage is set up by the deploy (handlers.setup); a cold start makes no such call.
    actions = {a for s in _statements(synth, name) for a in _actions(s)}
    assert "dynamodb:DescribeTable" not in actions
    assert "dynamodb:CreateTable" not in actions


def test_only_the_setup_function_describes_tables(synth: Synth) -> None:
    tables = _table_ids(synth)
    statements = _statements(synth, "setup")
    (describe,) = [s for s in statements if "dynamodb:DescribeTable" in _actions(s)]
    assert _actions(describe) == ["dynamodb:DescribeTable"]
    assert all(lid in json.dumps(describe["Resource"]) for lid in tables.values())
    actions = {a for s in statements for a in _actions(s)}
    assert not actions & {"dynamodb:PutItem", "dynamodb:DeleteItem", "s3:PutObject",
                          "s3:DeleteObject", "dynamodb:CreateTable", "s3:CreateBucket"}
    bucket_id = synth.logical_id(synth.stack.storage.bucket)
    (listing,) = [s for s in statements if _actions(s) == ["s3:ListBucket"]]
    assert listing["Resource"] == {"Fn::GetAtt": [bucket_id, "Arn"]}  # HeadBucket


@pytest.mark.parametrize(
    ("name", "can_delete"), [("api", True), ("stream", True), ("worker", True)]
)
def test_blob_access_is_limited_to_the_blobs_prefix(
    synth: Synth, name: str, can_delete: bool
) -> None:
    bucket_id = synth.logical_id(synth.stack.storage.bucket)
    s3 = [s for s in _statements(synth, name) if _actions(s)[0].startswith("s3:")]
    objects = [s for s in s3 if "s3:GetObject" in _actions(s)]
    listing = [s for s in s3 if _actions(s) == ["s3:ListBucket"]]

    assert len(objects) == 1 and len(listing) == 1
    assert ("s3:DeleteObject" in _actions(objects[0])) is can_delete
    assert json.dumps(objects[0]["Resource"]).endswith('"/blobs/*"]]}')
    assert bucket_id in json.dumps(objects[0]["Resource"])
    # Listing (a thread's attachments, deleted by prefix) only under blobs/.
    assert listing[0]["Resource"] == {"Fn::GetAtt": [bucket_id, "Arn"]}
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["blobs/*"]}}
    assert len(s3) == 2


def test_bedrock_only_on_the_configured_models(full: Synth) -> None:
    for name in HANDLERS:
        (bedrock,) = [s for s in _statements(full, name) if _actions(s)[0].startswith("bedrock:")]
        assert sorted(_actions(bedrock)) == [
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream",
        ]
        arns = sorted(json.dumps(r) for r in _resources(bedrock))
        assert len(arns) == 3, arns
        joined = " ".join(arns)
        assert ":inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0" in joined
        assert ":bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0" in joined
        assert "::foundation-model/amazon.nova-lite-v1:0" in joined
        assert ":bedrock:*::foundation-model/amazon.nova" not in joined


def test_queue_send_for_api_and_stream_receive_for_worker(dev: Synth) -> None:
    jobs = dev.logical_id(dev.stack.worker.queue)
    for name in HANDLERS:
        sqs = [s for s in _statements(dev, name) if _actions(s)[0].startswith("sqs:")]
        for statement in sqs:
            assert _resources(statement) == [{"Fn::GetAtt": [jobs, "Arn"]}]
        actions = {a for s in sqs for a in _actions(s)}
        if name == "worker":
            assert "sqs:ReceiveMessage" in actions and "sqs:SendMessage" not in actions
        else:
            assert actions == {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}


def test_data_api_and_secret_only_when_postgres_is_on(dev: Synth, full: Synth) -> None:
    cluster = full.logical_id(full.stack.postgres.cluster)
    for name in ALL_HANDLERS:
        dev_actions = {a for s in _statements(dev, name) for a in _actions(s)}
        assert not any(a.startswith(("rds-data:", "secretsmanager:")) for a in dev_actions)
        statements = _statements(full, name)
        data_api = [s for s in statements if _actions(s)[0].startswith("rds-data:")]
        secret = [s for s in statements if _actions(s)[0].startswith("secretsmanager:")]
        assert data_api and secret
        for statement in data_api:
            assert cluster in json.dumps(_resources(statement))
        for statement in secret:
            assert "PostgresClusterSecret" in json.dumps(_resources(statement))
            assert set(_actions(statement)) <= {
                "secretsmanager:GetSecretValue",
                "secretsmanager:DescribeSecret",
            }
