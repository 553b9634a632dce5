"""Property test: whatever Schemathesis sends to the documented routes, no 5xx answers.

The OpenAPI document the api serves drives the generation (bodies, path values);
every request goes through the dev server's ASGI app and so through the api Lambda
handler. Refusals must be 4xx JSON, never a crash.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

import storage
from agents import Agent, App, InlineJobRunner
from handlers import _wiring
from handlers.api import openapi_document
from handlers.local import app as local_app
from tests.handlers import hostile_queries

schema = schemathesis.openapi.from_dict(json.loads(openapi_document()))
# The JSON and number query parameters get hostile values: depth, range, wrong types.
hostile_queries.install(schema, thread_id="t-1")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        served = App(agents=[Agent(id="assistant", model="local/echo")],
                     storage=storage.open("memory://"), jobs=InlineJobRunner())
        _wiring.use_app(served)
        # A thread with a turn, so the hostile query values reach the code that parses them.
        served.get_agent("assistant").generate(
            [{"id": "m-1", "role": "user", "content": "hello"}],
            memory={"thread": "t-1", "resource": "u-1"})
        with TestClient(local_app) as test_client:
            yield test_client
        _wiring.use_app(None)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_no_documented_route_answers_5xx(case: schemathesis.Case, client: Any) -> None:
    body = case.body if isinstance(case.body, dict | list | str | int | float) else None
    response = client.request(case.method, case.formatted_path, params=case.query or None,
                              json=body, headers=case.headers or None)
    assert response.status_code < 500, (case.method, case.formatted_path, body, response.text)
    if response.status_code >= 400:
        assert isinstance(response.json().get("error"), str), response.text
