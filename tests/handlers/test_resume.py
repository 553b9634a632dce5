"""A paused Aurora cluster: the api and stream functions answer 503 + Retry-After at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from storage.postgres.data_api import DataApiDriver
from storage.postgres.store import PostgresStore
from tests.storage.fakes import pg
from tests.storage.fakes.rds_data import CLUSTER_ARN, SECRET_ARN, FakeDataApi

from .conftest import Call

pytestmark = pytest.mark.postgres


@pytest.fixture
def fake() -> Iterator[FakeDataApi]:
    url = pg.session_database()
    pg.empty_tables(url)
    api = FakeDataApi(url)
    yield api
    api.close()


@pytest.fixture
def store(fake: FakeDataApi) -> Any:
    """As deployed: a 2-second resume wait, schema migrated beforehand (by the deploy)."""
    sleeps: list[float] = []
    driver = DataApiDriver(CLUSTER_ARN, SECRET_ARN, fake.database, client=fake.client(),
                           resume_wait=2.0, sleep=sleeps.append)
    migrated = PostgresStore(driver)
    migrated.setup()
    return PostgresStore(driver, auto_migrate=False)


def test_api_answers_503_with_retry_after_while_the_cluster_resumes(
    api: Call, fake: FakeDataApi
) -> None:
    fake.resuming = 1000
    fake.calls.clear()

    reply = api("GET", "/api/memory/threads", query={"resourceId": "u-1", "agentId": "assistant"})

    assert reply.status == 503
    assert reply.headers["Retry-After"].isdigit() and 1 <= int(reply.headers["Retry-After"]) <= 15
    assert "resuming" in reply.body["error"]
    assert len(fake.calls) == 3  # two bounded retries, then the answer; no 45-second wait


def test_generate_answers_503_and_stores_nothing_half_done(api: Call, fake: FakeDataApi) -> None:
    fake.resuming = 1000

    reply = api("POST", "/api/agents/assistant/generate", body={
        "messages": "hello", "memory": {"thread": "t-1", "resource": "u-1"}})

    assert reply.status == 503 and "Retry-After" in reply.headers
    fake.resuming = 0
    assert api("GET", "/api/memory/threads/t-1", query={"agentId": "assistant"}).status == 404


def test_once_resumed_the_same_request_succeeds(api: Call, fake: FakeDataApi) -> None:
    fake.resuming = 1000
    assert api("GET", "/api/memory/threads", query={"resourceId": "u-1"}).status == 503

    fake.resuming = 0
    reply = api("GET", "/api/memory/threads", query={"resourceId": "u-1"})

    assert reply.status == 200 and "Retry-After" not in reply.headers


def test_stream_answers_503_with_retry_after_before_the_first_chunk(
    app: Any, fake: FakeDataApi
) -> None:
    from starlette.testclient import TestClient

    from handlers.stream import app as stream_app

    fake.resuming = 1000
    with TestClient(stream_app) as client:
        response = client.post("/api/agents/assistant/stream", json={
            "messages": "hello", "memory": {"thread": "t-1", "resource": "u-1"}})

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "resuming" in response.json()["error"]
