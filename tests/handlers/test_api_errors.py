"""Bad input answers a 4xx JSON ``{"error"}`` and changes nothing that is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents import App
from handlers import _wiring
from storage.records import Message, Thread
from tests.handlers.conftest import Call


def _snapshot(app: App) -> Any:
    memory = app.storage.memory
    threads = memory.list_threads(per_page=None).items
    messages = {t.id: memory.list_messages(t.id, per_page=None).items for t in threads}
    resource = memory.get_resource("u-1")
    runs = app.storage.workflows.list_runs().total
    return threads, messages, resource, runs


@pytest.fixture
def seeded(app: App) -> App:
    app.storage.memory.save_thread(Thread(id="t-1", resource_id="u-1", title="Kept",
                                          metadata={"k": 1}))
    app.storage.memory.save_messages([
        Message(id="m-1", thread_id="t-1", role="user",
                content={"format": 2, "parts": [{"type": "text", "text": "hi"}]}),
    ])
    app.storage.memory.update_resource("u-1", working_memory="# kept")
    return app


GEN = "/api/agents/assistant/generate"
BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    # (method, path, request kwargs, expected status)
    ("POST", GEN, {"raw": "{not json"}, 400),
    ("POST", GEN, {"raw": "[1, 2"}, 400),
    ("POST", GEN, {"body": {"messages": 5}}, 400),
    ("POST", GEN, {"body": {"messages": "hi", "memory": {"thread": 7, "resource": "u-1"}}}, 400),
    ("POST", GEN, {"body": {"messages": "hi", "maxSteps": "many"}}, 400),
    ("POST", GEN, {"body": {"messages": []}}, 400),
    ("POST", GEN, {"body": {"messages": ""}}, 400),
    ("POST", GEN, {"body": {}}, 400),
    ("POST", GEN, {"body": {"messages": [{"role": "robot", "content": "x"}],
                            "memory": {"thread": "t-1", "resource": "u-1"}}}, 400),
    ("POST", "/api/agents/nobody/generate", {"body": {"messages": "hi"}}, 404),
    ("GET", "/api/agents/nobody", {}, 404),
    ("POST", "/api/memory/threads", {"body": {"resourceId": 5}}, 400),
    ("POST", "/api/memory/threads", {"body": {"title": "no resource"}}, 400),
    ("POST", "/api/memory/threads", {"body": {"resourceId": "u-1", "metadata": {"bad key": 1}}},
     400),
    ("POST", "/api/memory/threads", {"body": {"resourceId": "u-1", "threadId": "t-1"}}, 409),
    ("PATCH", "/api/memory/threads/t-1", {"body": {"title": ["x"]}}, 400),
    ("PATCH", "/api/memory/threads/t-1", {"body": {"metadata": [1, 2]}}, 400),
    ("PATCH", "/api/memory/threads/t-1", {"raw": "{"}, 400),
    ("PATCH", "/api/memory/threads/nope", {"body": {"title": "x"}}, 404),
    ("GET", "/api/memory/threads/nope", {}, 404),
    ("DELETE", "/api/memory/threads/nope", {}, 404),
    ("GET", "/api/memory/threads/nope/messages", {}, 404),
    ("POST", "/api/memory/threads/nope/working-memory", {"body": {"workingMemory": "x"}}, 404),
    ("POST", "/api/memory/threads/t-1/working-memory", {"body": {"workingMemory": 5}}, 400),
    ("POST", "/api/memory/threads/t-1/working-memory", {"body": {}}, 400),
    ("GET", "/api/memory/threads", {"query": {"page": "-1"}}, 400),
    ("GET", "/api/memory/threads", {"query": {"perPage": "abc"}}, 400),
    ("GET", "/api/memory/threads", {"query": {"perPage": "5000"}}, 400),
    ("GET", "/api/memory/threads", {"query": {"orderBy[field]": "title"}}, 400),
    ("GET", "/api/memory/threads", {"query": {"orderBy[direction]": "sideways"}}, 400),
    ("GET", "/api/memory/threads", {"query": {"metadata": "{oops"}}, 400),
    ("GET", "/api/memory/threads/t-1/messages", {"query": {"page": "x"}}, 400),
    ("GET", "/api/memory/threads/t-1/messages", {"query": {"orderBy": "[]"}}, 400),
    ("GET", "/api/memory/threads/t-1/messages", {"query": {"include": "{\"id\": 1}"}}, 400),
    ("GET", "/api/memory/threads/t-1/messages",
     {"query": {"filter": json.dumps({"dateRange": {"start": "yesterday"}})}}, 400),
    ("GET", "/api/workflows/agent:assistant/runs", {"query": {"fromDate": "soon"}}, 400),
    ("GET", "/api/scores/run/r-1", {"query": {"perPage": "-5"}}, 400),
    ("POST", "/api/attachments", {"body": {"contentType": "application/x-msdownload",
                                           "threadId": "t-1"}}, 400),
    ("POST", "/api/attachments", {"body": {"contentType": "image/png", "threadId": "nope"}}, 404),
    ("POST", "/api/attachments", {"body": {"contentType": "image/png", "threadId": "t-1",
                                           "size": 10**12}}, 413),
    ("GET", "/api/no/such/route", {}, 404),
    ("POST", "/api/memory/threads", {"raw": "resourceId=u-1&threadId=t-2",
                                     "headers": {"Content-Type":
                                                 "application/x-www-form-urlencoded"}}, 415),
    ("POST", GEN, {"raw": "--x\r\n", "headers": {"Content-Type": "multipart/form-data"}}, 415),
    # A body that declares no type is not taken for JSON (a cross-site form could send it)
    ("POST", "/api/memory/threads", {"raw": '{"resourceId": "u-1", "threadId": "t-3"}',
                                     "headers": {"Content-Type": ""}}, 415),
    ("POST", GEN, {"raw": '{"messages": "hi"}', "headers": {"Content-Type": "text/plain"}}, 415),
    ("POST", GEN, {"body": {"messages": "hi", "maxSteps": "3"}}, 400),
    ("POST", GEN, {"body": {"messages": "hi", "maxSteps": True}}, 400),
    ("POST", GEN, {"raw": '{"messages": ' + "[" * 70 + "]" * 70 + "}"}, 400),
    ("GET", "/api/memory/threads/t-1/messages",
     {"query": {"filter": json.dumps({"dateRange": {"start": 12345}})}}, 400),
    ("GET", "/api/memory/threads/t-1/messages",
     {"query": {"include": json.dumps([{"id": "m-1", "withNextMessages": 2**63}])}}, 400),
    ("GET", "/api/memory/threads", {"query": {"page": "99999999999999999999"}}, 400),
    # A timestamp past year 9999 once converted to UTC (was an OverflowError: a 500)
    ("POST", "/api/observability/traces/query",
     {"body": {"timeRange": {"from": "9999-12-31T23:59:59-14:00"}}}, 400),
    ("POST", "/api/observability/traces/query",
     {"body": {"timeRange": {}, "mode": "delta", "limit": 5,
               "after": "9999-12-31T23:59:59-14:00"}}, 400),
    ("POST", "/api/observability/traces/query",
     {"raw": '{"timeRange": ' + "[" * 70 + "]" * 70 + "}"}, 400),
    ("GET", "/api/workflows/agent:assistant/runs",
     {"query": {"fromDate": "0001-01-01T00:00:00+14:00"}}, 400),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), BAD_REQUESTS,
                         ids=[f"{m} {p} {k}"[:80] for m, p, k, _ in BAD_REQUESTS])
def test_bad_input_is_a_4xx_json_error_and_changes_nothing(
        api: Call, seeded: App, method: str, path: str, kwargs: dict[str, Any],
        status: int) -> None:
    # Given a stored thread, message and working memory
    before = _snapshot(seeded)
    # When a bad request arrives
    reply = api(method, path, **kwargs)
    # Then it is refused with a JSON error, and the store is as it was
    assert reply.status == status, reply.body
    assert isinstance(reply.body, dict) and isinstance(reply.body.get("error"), str)
    assert reply.body["error"]
    assert reply.headers.get("Content-Type") == "application/json"
    assert _snapshot(seeded) == before


def test_oversize_body_is_413_and_changes_nothing(api: Call, seeded: App,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOWAGE_MAX_BODY_BYTES", "1024")
    _wiring.settings.cache_clear()
    before = _snapshot(seeded)
    reply = api("POST", GEN, body={"messages": "x" * 2000,
                                   "memory": {"thread": "t-1", "resource": "u-1"}})
    assert reply.status == 413 and "limit" in reply.body["error"]
    assert _snapshot(seeded) == before
    small = api("POST", GEN, body={"messages": "ok", "memory": {"thread": "t-1",
                                                                "resource": "u-1"}})
    assert small.status == 200


def test_a_taken_thread_id_is_one_409_whoever_holds_it(api: Call, seeded: App) -> None:
    before = _snapshot(seeded)
    replies = [api("POST", "/api/memory/threads", body={"resourceId": r, "threadId": "t-1"})
               for r in ("u-1", "u-2")]
    assert [(r.status, r.body) for r in replies] == [
        (409, {"error": "threadId is already in use"})] * 2
    assert _snapshot(seeded) == before


def test_a_thread_of_another_resource_is_not_found(api: Call, seeded: App) -> None:
    before = _snapshot(seeded)
    reply = api("POST", GEN, body={"messages": "hi", "memory": {"thread": "t-1",
                                                                "resource": "u-2"}})
    assert reply.status == 404 and reply.body == {"error": "Thread not found"}
    assert _snapshot(seeded)[:3] == before[:3]


def test_server_errors_reveal_nothing(api: Call, seeded: App,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret connection string")

    monkeypatch.setattr(seeded.storage.memory, "get_thread", explode)
    reply = api("GET", "/api/memory/threads/t-1")
    assert reply.status == 500 and reply.body == {"error": "internal error"}
