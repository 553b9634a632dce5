"""Schemathesis over real HTTP: every documented route, every answer checked on the schema.

``tests/handlers/test_api_fuzz.py`` asserts "no 5xx" through Starlette's test client
on a ``memory://`` store. This complements it: the dev server runs under uvicorn
on a free port over the embedded default (SQLite + a blob folder) with a seeded
thread, the schema is the document the server serves at ``/api/openapi.json``, and each
response must also conform to the documented schema (content type,
body) — not only avoid a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from handlers import _wiring
from handlers.api import openapi_document
from handlers.local import app as local_app
from tests.handlers import hostile_queries
from tests.handlers.servers import free_port, serve
from tests.reliability.conftest import PROFILE_NAME


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("fuzz-api")
    port = free_port()
    env = {
        "STOWAGE_STORAGE_URL": f"sqlite:///{tmp}/stowage.db",
        "STOWAGE_BLOBS_URL": f"file:///{tmp}/blobs",
        "STOWAGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "STOWAGE_JOBS": "inline",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        _wiring.reset()
        with serve(local_app, port) as url:
            # Seed a thread with a turn, so reads of real ids answer 200 with bodies.
            reply = httpx.post(f"{url}/api/agents/assistant/generate", timeout=60, json={
                "messages": [{"id": "m-1", "role": "user", "content": "hello"}],
                "memory": {"thread": "t-1", "resource": "u-1"}})
            assert reply.status_code == 200, reply.text
            yield url
        _wiring.reset()


# The document the api builds; the first test checks the server serves exactly it.
schema = schemathesis.openapi.from_dict(json.loads(openapi_document()))
# The JSON and number query parameters get hostile values: depth, range, wrong types.
hostile_queries.install(schema, thread_id="t-1")


def test_the_server_serves_the_fuzzed_document(base: str) -> None:
    served = httpx.get(f"{base}/api/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == json.loads(openapi_document())


@schema.parametrize()
@settings(max_examples=100 if PROFILE_NAME == "deep" else 15, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_documented_route_answers_as_documented(case: schemathesis.Case, base: str) -> None:
    response = case.call(base_url=base, timeout=60)
    case.validate_response(response, checks=[
        not_a_server_error,
        # Not status_code_conformance: the document lists no 4xx answers (yet); every
        # 4xx is checked below to be Mastra's JSON error shape instead.
        content_type_conformance,
        response_schema_conformance,
    ])
    if response.status_code >= 400:
        assert isinstance(response.json().get("error"), str), response.text


HOSTILE = [("/api/memory/threads/t-1/messages", name)
           for name in ("include", "orderBy", "filter", "page", "perPage")]
HOSTILE += [("/api/memory/threads", name) for name in ("metadata", "page", "perPage")]


@pytest.mark.parametrize(("path", "name"), HOSTILE, ids=[f"{p}?{n}" for p, n in HOSTILE])
@settings(max_examples=500 if PROFILE_NAME == "deep" else 30, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_query_json_and_numbers_never_answer_5xx(base: str, path: str, name: str,
                                                         data: st.DataObject) -> None:
    # Each query parameter that carries JSON or a number, aimed at a thread that exists
    # (with a message m-1 for include windows) on SQLite: depth, range, types, garbage.
    query = {name: data.draw(hostile_queries.STRATEGIES[name], label=name)}
    response = httpx.get(f"{base}{path}", params=query, timeout=60)
    assert response.status_code < 500, (query, response.text[:300])
    if response.status_code >= 400:
        assert isinstance(response.json().get("error"), str), response.text


@pytest.mark.parametrize("path", ["/api/memory/threads", "/api/attachments",
                                  "/api/agents/assistant/generate"])
def test_a_body_that_is_not_utf8_is_a_400(base: str, path: str) -> None:
    # Found by the fuzzer: the base64-encoded body failed decoding inside Powertools (500).
    reply = httpx.post(f"{base}{path}", content=b"X\xcc\x99\xff",
                       headers={"Content-Type": "application/json"}, timeout=30)
    assert reply.status_code == 400
    assert reply.json() == {"error": "request body is not UTF-8 JSON"}


def test_the_document_describes_its_own_route_as_an_object() -> None:
    # Found by the fuzzer: /api/openapi.json was documented as returning a string.
    document = json.loads(openapi_document())
    answer = document["paths"]["/api/openapi.json"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"].get("type") != "string"
