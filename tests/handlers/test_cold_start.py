"""A deployed function's cold start makes no storage request (the deploy set storage up)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import storage
from handlers import _wiring

from .conftest import AWS_BACKENDS

PREFIX = "coldtest"
BUCKET = "stowage-cold"


@pytest.fixture
def deployed_storage(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Tables and a bucket that exist (as after a deploy); every AWS call is recorded."""
    if not AWS_BACKENDS:
        pytest.skip("the DynamoDB and S3 backends are not in this tree")
    from botocore.client import BaseClient
    from moto import mock_aws

    with mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        env = {"STOWAGE_STORAGE_URL": f"dynamodb://{PREFIX}?region=us-east-1",
               "STOWAGE_BLOBS_URL": f"s3://{BUCKET}/blobs?region=us-east-1"}
        storage.from_env(env).setup()  # the deploy's setup
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        calls: list[str] = []
        real = BaseClient._make_api_call

        def record(self: Any, operation: str, params: Any) -> Any:
            calls.append(operation)
            return real(self, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", record)
        yield calls


def test_a_deployed_cold_start_makes_no_storage_request(
    deployed_storage: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOWAGE_SETUP", "deploy")
    _wiring.reset()

    app = _wiring.get_app()  # what the api/worker's first request and stream's start do

    assert app.storage is not None
    assert deployed_storage == []


def test_locally_the_app_still_sets_storage_up_when_built(
    deployed_storage: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # make dev, tests, scripts: STOWAGE_SETUP unset is "start" (4 DescribeTable + HeadBucket).
    monkeypatch.delenv("STOWAGE_SETUP", raising=False)
    _wiring.reset()

    _wiring.get_app()

    assert sorted(deployed_storage) == ["DescribeTable"] * 4 + ["HeadBucket"]


def test_the_first_request_after_a_deployed_cold_start_works(
    deployed_storage: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import call_api

    monkeypatch.setenv("STOWAGE_SETUP", "deploy")
    monkeypatch.setenv("STOWAGE_JOBS", "inline")
    _wiring.reset()

    reply = call_api("GET", "/api/memory/threads", query={"resourceId": "u-1"})

    assert reply.status == 200 and reply.body["threads"] == []
    assert deployed_storage == ["Query"]  # the request's own work, nothing before it


def test_an_unknown_setup_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="STOWAGE_SETUP"):
        _wiring.setup_mode({"STOWAGE_SETUP": "sometimes"})
