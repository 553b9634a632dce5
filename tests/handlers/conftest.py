"""Fixtures for handler tests: an App on a fresh store, and API Gateway events to drive it.

``api`` calls :func:`handlers.api.handler` with REST proxy events, exactly as API
Gateway does. The store is the ``memory://`` reference; ``aws_store`` is DynamoDB +
S3 under moto.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import storage
from agents import Agent, App, InlineJobRunner, Memory
from handlers import _wiring
from handlers.events import LocalContext, rest_event


def _aws_backends_exist() -> bool:
    return all(importlib.util.find_spec(m) is not None
               for m in ("storage.dynamodb.store", "storage.s3"))


AWS_BACKENDS = _aws_backends_exist()


@dataclass
class Reply:
    """An api handler answer, parsed."""

    status: int
    body: Any
    headers: dict[str, str]


@pytest.fixture(autouse=True)
def _clean_wiring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    _wiring.reset()
    yield
    _wiring.reset()


@pytest.fixture
def memory_store() -> Any:
    """A fresh ``memory://`` reference store."""
    opened = storage.open("memory://")
    opened.setup()
    return opened


@pytest.fixture
def store(memory_store: Any) -> Any:
    """The store the served App uses (a module may override this fixture)."""
    return memory_store


@pytest.fixture
def aws_store() -> Iterator[Any]:
    """DynamoDB tables and an S3 bucket under moto, as deployed."""
    if not AWS_BACKENDS:
        pytest.skip("the DynamoDB and S3 backends are not in this tree")
    from moto import mock_aws

    with mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="stowage-test")
        opened = storage.CompositeStore(
            storage.open("dynamodb://h6test?region=us-east-1"),
            blobs=storage.open("s3://stowage-test/blobs?region=us-east-1"),
        )
        opened.setup()
        yield opened


def make_app(store: Any, *agents: Agent) -> App:
    """An App over ``store`` whose jobs run inline (titles exist when a call returns)."""
    agents = agents or (Agent(id="assistant", model="local/echo",
                              memory=Memory(generate_title=True, working_memory=True)),)
    return App(agents=list(agents), storage=store, jobs=InlineJobRunner())


@pytest.fixture
def app(store: Any) -> App:
    """The served App: ``assistant`` on ``local/echo`` over ``store``."""
    served = make_app(store)
    _wiring.use_app(served)
    return served


Call = Callable[..., Reply]


def call_api(method: str, path: str, *, body: Any = None, raw: str | bytes | None = None,
             query: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Reply:
    """Send one REST proxy event through the api Lambda handler."""
    from handlers.api import handler

    text = raw if raw is not None else (json.dumps(body) if body is not None else None)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    query = {k: str(v) for k, v in (query or {}).items()}
    result = handler(rest_event(method, path, body=text, query=query, headers=hdrs),
                     LocalContext())
    out_headers = {k: ", ".join(v) for k, v in (result.get("multiValueHeaders") or {}).items()}
    out_headers.update(result.get("headers") or {})
    payload = result.get("body")
    return Reply(int(result["statusCode"]), json.loads(payload) if payload else None, out_headers)


@pytest.fixture
def api(app: App) -> Call:
    """``api(method, path, body=..., query=..., headers=...)`` -> :class:`Reply`."""
    return call_api
