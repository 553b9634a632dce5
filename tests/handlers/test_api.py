"""The api Lambda driven with API Gateway REST proxy events: Mastra's shapes, stored data."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import pytest

from agents import App
from storage.records import Thread
from tests.handlers.conftest import Call


@pytest.fixture(params=["memory", "dynamodb+s3"])
def store(request: pytest.FixtureRequest) -> Any:
    """Every test here runs on the reference store and on DynamoDB + S3 under moto."""
    if request.param == "memory":
        return request.getfixturevalue("memory_store")
    return request.getfixturevalue("aws_store")

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def _iso(value: str) -> datetime:
    assert value.endswith("Z") and len(value) == 24, value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_agents_list_and_details(api: Call) -> None:
    listed = api("GET", "/api/agents")
    assert listed.status == 200
    assert set(listed.body) == {"assistant"}
    details = api("GET", "/api/agents/assistant")
    assert details.status == 200
    assert details.body["modelId"] == "local/echo"
    assert details.body["memory"]["workingMemory"]["enabled"] is True


def test_generate_saves_the_turn_and_answers_mastra_shape(api: Call, app: App) -> None:
    # Given a thread named in memory, When generating twice
    first = api("POST", "/api/agents/assistant/generate",
                body={"messages": "hello", "memory": {"thread": "t-1", "resource": "u-1"}})
    second = api("POST", "/api/agents/assistant/generate",
                 body={"messages": [{"role": "user", "content": "again"}],
                       "memory": {"thread": {"id": "t-1"}, "resource": "u-1"}})
    # Then each answer has Mastra's fields and the thread holds both turns
    assert first.status == 200 and second.status == 200
    assert first.body["text"] == "Echo: hello"
    assert {"runId", "usage", "finishReason", "messages", "threadId"} <= set(first.body)
    assert [m["role"] for m in first.body["messages"]] == ["user", "assistant"]
    stored = app.storage.memory.list_messages("t-1")
    assert [m.text for m in stored.items] == ["hello", "Echo: hello", "again", "Echo: again"]
    assert app.storage.memory.get_thread("t-1").resource_id == "u-1"


def test_thread_crud(api: Call, app: App) -> None:
    created = api("POST", "/api/memory/threads", query={"agentId": "assistant"},
                  body={"resourceId": "u-1", "threadId": "t-9", "title": "Plans",
                        "metadata": {"topic": "trip"}})
    assert created.status == 200
    assert created.body["id"] == "t-9" and created.body["resourceId"] == "u-1"
    _iso(created.body["createdAt"])
    got = api("GET", "/api/memory/threads/t-9")
    assert got.body == created.body
    patched = api("PATCH", "/api/memory/threads/t-9", query={"agentId": "assistant"},
                  body={"title": "Trip plans", "metadata": {"days": 3}})
    assert patched.status == 200
    assert patched.body["title"] == "Trip plans"
    assert patched.body["metadata"] == {"topic": "trip", "days": 3}
    assert app.storage.memory.get_thread("t-9").title == "Trip plans"
    deleted = api("DELETE", "/api/memory/threads/t-9", query={"agentId": "assistant"})
    assert deleted.status == 200 and deleted.body == {"result": "Thread deleted"}
    assert app.storage.memory.get_thread("t-9") is None
    assert api("GET", "/api/memory/threads/t-9").status == 404


def test_create_thread_refuses_an_existing_id(api: Call, app: App) -> None:
    app.storage.memory.save_thread(Thread(id="t-1", resource_id="u-1", title="Mine"))
    again = api("POST", "/api/memory/threads", body={"resourceId": "u-2", "threadId": "t-1"})
    assert again.status == 409 and "error" in again.body
    assert app.storage.memory.get_thread("t-1").resource_id == "u-1"


def test_list_threads_envelope_paging_and_order(api: Call, app: App) -> None:
    for n in range(5):
        app.storage.memory.save_thread(Thread(id=f"t-{n}", resource_id="u-1"))
    app.storage.memory.save_thread(Thread(id="other", resource_id="u-2"))
    page = api("GET", "/api/memory/threads",
               query={"resourceId": "u-1", "page": 1, "perPage": 2,
                      "orderBy[field]": "createdAt", "orderBy[direction]": "ASC"})
    assert page.status == 200
    assert page.body["total"] == 5 and page.body["page"] == 1 and page.body["perPage"] == 2
    assert page.body["hasMore"] is True
    assert [t["id"] for t in page.body["threads"]] == ["t-2", "t-3"]


def test_list_messages_paging_order_and_blob_urls(api: Call, app: App) -> None:
    api("POST", "/api/agents/assistant/generate",
        body={"messages": [{"role": "user", "content": "look",
                            "experimental_attachments": [
                                {"name": "a.png", "contentType": "image/png",
                                 "url": f"data:image/png;base64,{PNG}"}]}],
              "memory": {"thread": "t-1", "resource": "u-1"}})
    stored = app.storage.memory.list_messages("t-1").items[0]
    uri = stored.content["experimental_attachments"][0]["url"]
    assert not uri.startswith(("data:", "http")), "stored messages keep blob URIs"
    listed = api("GET", "/api/memory/threads/t-1/messages",
                 query={"perPage": 1, "orderBy": json.dumps({"field": "createdAt",
                                                             "direction": "DESC"})})
    assert listed.status == 200
    assert listed.body["total"] == 2 and listed.body["hasMore"] is True
    assert listed.body["messages"][0]["role"] == "assistant"
    everything = api("GET", "/api/memory/threads/t-1/messages", query={"perPage": "false"})
    assert everything.body["perPage"] is False and len(everything.body["messages"]) == 2
    url = everything.body["messages"][0]["content"]["experimental_attachments"][0]["url"]
    assert url != uri, "API responses render blob URIs as download URLs"
    assert url.startswith(("https://", "http://", "data:image/png;base64,"))


def test_working_memory_get_and_update(api: Call, app: App) -> None:
    app.storage.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    before = api("GET", "/api/memory/threads/t-1/working-memory",
                 query={"agentId": "assistant", "resourceId": "u-1"})
    assert before.status == 200
    assert before.body["workingMemory"] is None and before.body["threadExists"] is True
    assert before.body["workingMemoryTemplate"]["format"] == "markdown"
    updated = api("POST", "/api/memory/threads/t-1/working-memory",
                  query={"agentId": "assistant"},
                  body={"workingMemory": "# Name: Ada", "resourceId": "u-1"})
    assert updated.status == 200 and updated.body == {"success": True}
    assert app.storage.memory.get_resource("u-1").working_memory == "# Name: Ada"
    after = api("GET", "/api/memory/threads/t-1/working-memory",
                query={"agentId": "assistant", "resourceId": "undefined"})
    assert after.body["workingMemory"] == "# Name: Ada" and after.body["source"] == "resource"


def test_memory_status(api: Call) -> None:
    assert api("GET", "/api/memory/status", query={"agentId": "assistant"}).body == {
        "result": True}


def test_runs_traces_and_scores_routes(api: Call, app: App) -> None:
    done = api("POST", "/api/agents/assistant/generate",
               body={"messages": "hi", "memory": {"thread": "t-1", "resource": "u-1"}})
    run_id, trace_id = done.body["runId"], done.body["traceId"]
    runs = api("GET", "/api/workflows/agent:assistant/runs")
    assert runs.status == 200 and [r["runId"] for r in runs.body["runs"]] == [run_id]
    assert runs.body["runs"][0]["status"] == "success"
    traces = api("GET", "/api/observability/traces", query={"resourceId": "u-1"})
    assert [s["traceId"] for s in traces.body["spans"]] == [trace_id]
    trace = api("GET", f"/api/observability/traces/{trace_id}")
    assert trace.status == 200
    assert [s["isRootSpan"] for s in trace.body["spans"]].count(True) == 1
    assert api("GET", "/api/observability/traces/nope").status == 404
    from storage.records import Score

    app.storage.scores.save_score(Score(id="s-1", scorer_id="len", score=0.5, run_id=run_id,
                                        entity_type="AGENT", entity_id="assistant"))
    for path in (f"/api/scores/run/{run_id}", "/api/scores/scorer/len",
                 "/api/scores/entity/AGENT/assistant"):
        scores = api("GET", path)
        assert scores.status == 200, path
        assert [s["id"] for s in scores.body["scores"]] == ["s-1"]
        assert scores.body["pagination"]["total"] == 1


def test_health_and_openapi(api: Call) -> None:
    assert api("GET", "/api/health").body == {"status": "ok"}
    doc = api("GET", "/api/openapi.json")
    assert doc.status == 200 and doc.body["openapi"].startswith("3.")
    paths: dict[str, Any] = doc.body["paths"]
    for path in ("/api/agents", "/api/agents/{agent_id}/generate", "/api/memory/threads",
                 "/api/memory/threads/{thread_id}/messages", "/api/attachments"):
        assert path in paths, path
    generate = paths["/api/agents/{agent_id}/generate"]["post"]
    assert "requestBody" in generate


def test_attachment_upload_grant_stays_under_the_thread(api: Call, app: App) -> None:
    app.storage.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    grant = api("POST", "/api/attachments",
                body={"contentType": "image/png", "size": 1000, "threadId": "t-1"})
    if app.storage.blobs.__class__.__name__ == "InMemoryBlobStore":
        assert grant.status == 400 and "error" in grant.body
        return
    assert grant.status == 200
    assert grant.body["key"].startswith("attachments/u-1/t-1/")
    assert grant.body["maxBytes"] == 1000


def test_base64_encoded_bodies_are_read_like_text(app: App) -> None:
    # API Gateway base64-encodes bodies of binary media types
    from handlers.api import handler
    from handlers.events import LocalContext, rest_event

    payload = json.dumps({"resourceId": "u-1", "threadId": "t-b64", "title": "Olá"}).encode()
    event = rest_event("POST", "/api/memory/threads", body=payload,
                       headers={"Content-Type": "application/json"})
    event["body"] = base64.b64encode(payload).decode()
    event["isBase64Encoded"] = True
    result = handler(event, LocalContext())
    assert result["statusCode"] == 200, result["body"]
    assert app.storage.memory.get_thread("t-b64").title == "Olá"
