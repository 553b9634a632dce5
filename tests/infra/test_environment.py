"""The functions' storage variables open the intended backends through storage.from_env().

The synthesized values hold CloudFormation references; they are resolved here with
plausible deploy-time values, then handed to the real ``storage.from_env()`` (no
request is made: opening a store builds clients only).
"""

from __future__ import annotations

from typing import Any

import pytest

import storage
from infra.constants import API_HANDLER, STREAM_HANDLER, WORKER_HANDLER

from .conftest import Synth

ACCOUNT = "123456789012"
REGION = "eu-west-1"


def _resolve(value: Any) -> str:
    """Fn::Join / Ref / Fn::GetAtt -> a string as CloudFormation would produce."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_resolve(p) for p in parts)
    if "Ref" in value:
        ref = value["Ref"]
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
        if ref in pseudo:
            return pseudo[ref]
        if "Secret" in ref:  # a secret (attachment)'s Ref is its ARN
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"
        return ref.lower()  # bucket, cluster, queue: a name-like value is enough
    raise AssertionError(f"unexpected intrinsic {value}")


def _environment(synth: Synth, handler: str) -> dict[str, str]:
    (props,) = [
        r["Properties"]
        for r in synth.resources("AWS::Lambda::Function").values()
        if r["Properties"]["Handler"] == handler
    ]
    env = props["Environment"]["Variables"]
    return {k: _resolve(v) for k, v in env.items() if k.startswith("STOWAGE_")}


@pytest.mark.parametrize("handler", [API_HANDLER, STREAM_HANDLER, WORKER_HANDLER])
def test_dev_functions_open_dynamodb_and_s3(dev: Synth, handler: str) -> None:
    env = _environment(dev, handler)

    store = storage.from_env(env)

    for domain in ("memory", "workflows", "observability", "scores"):
        assert type(getattr(store, domain)).__module__.startswith("storage.dynamodb"), domain
    assert type(store.blobs).__module__.startswith("storage.s3")
    assert env["STOWAGE_BLOBS_URL"].startswith("s3://storagebucket")
    assert env["STOWAGE_STORAGE_URL"] == f"dynamodb://stowage-dev?region={REGION}"


@pytest.mark.parametrize("handler", [API_HANDLER, STREAM_HANDLER, WORKER_HANDLER])
def test_postgres_domains_open_the_data_api(full: Synth, handler: str) -> None:
    env = _environment(full, handler)

    store = storage.from_env(env)

    for domain in ("workflows", "scores"):
        assert type(getattr(store, domain)).__module__.startswith("storage.postgres"), domain
    for domain in ("memory", "observability"):
        assert type(getattr(store, domain)).__module__.startswith("storage.dynamodb"), domain
    assert type(store.blobs).__module__.startswith("storage.s3")
    assert f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:" in env["STOWAGE_WORKFLOWS_URL"]
