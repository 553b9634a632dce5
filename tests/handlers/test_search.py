"""``GET /api/memory/search`` (client-js ``searchMemory``): shape, tenancy, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents import Agent, App, InlineJobRunner, Memory
from agents.embedders import HashEmbedder
from handlers import _wiring
from tests.handlers.conftest import Call
from tests.handlers.test_auth import as_user, jwt_api  # noqa: F401 (fixture)


@pytest.fixture
def app(store: Any) -> App:
    """``assistant`` with semantic recall (hashing embedder), ``plain`` without."""
    served = App(agents=[
        Agent(id="assistant", model="local/echo", memory=Memory(
            last_messages=4, semantic_recall={"topK": 2, "messageRange": 1},
            embedder=HashEmbedder())),
        Agent(id="plain", model="local/echo", memory=Memory(last_messages=10)),
    ], storage=store, jobs=InlineJobRunner())
    _wiring.use_app(served)
    return served


def _talk(app: App, resource: str, thread: str, *texts: str) -> None:
    agent = app.get_agent("assistant")
    for text in texts:
        agent.generate(text, memory={"thread": thread, "resource": resource})


@pytest.fixture
def talked(app: App) -> App:
    _talk(app, "alice", "t-pets", "my cat is called Miso", "the weather is rainy")
    _talk(app, "alice", "t-work", "my manager is called Pieter", "meetings all day")
    _talk(app, "bob", "t-bob", "my cat is called Shadow")
    app.storage.memory.update_thread("t-pets", title="Pets")
    return app


def _search(api: Call, **query: Any) -> Any:
    return api("GET", "/api/memory/search", query={"agentId": "assistant", **query})


def test_semantic_search_answers_mastras_shape(api: Call, talked: App) -> None:
    reply = _search(api, searchQuery="what is my cat called", resourceId="alice")

    assert reply.status == 200
    body = reply.body
    assert set(body) == {"results", "count", "query", "searchScope", "searchType"}
    assert (body["query"], body["searchScope"], body["searchType"]) == (
        "what is my cat called", "resource", "semantic")
    assert body["count"] == len(body["results"]) == 2
    first = next(r for r in body["results"] if r["content"] == "my cat is called Miso")
    assert first["threadId"] == "t-pets" and first["threadTitle"] == "Pets"
    assert first["role"] == "user" and first["createdAt"].endswith("Z")
    assert [m["content"] for m in first["context"]["after"]] == ["Echo: my cat is called Miso"]
    assert first["context"]["before"] == []
    assert -1 <= first["score"] <= 1
    created = [r["createdAt"] for r in body["results"]]
    assert created == sorted(created, reverse=True)  # newest first, as Mastra sorts
    assert "Shadow" not in json.dumps(body)  # bob's messages never appear


def test_scope_thread_and_limit_from_memory_config(api: Call, talked: App) -> None:
    config = json.dumps({"semanticRecall": {"scope": "thread", "topK": 5, "messageRange": 0}})
    reply = _search(api, searchQuery="my manager", resourceId="alice", threadId="t-work",
                    memoryConfig=config, limit="1")

    assert reply.status == 200 and reply.body["searchScope"] == "thread"
    assert [r["threadId"] for r in reply.body["results"]] == ["t-work"]
    assert reply.body["results"][0]["context"] == {"before": [], "after": []}


def test_without_semantic_recall_it_is_a_text_match_in_the_latest_thread(
        api: Call, talked: App) -> None:
    latest = api("GET", "/api/memory/search", query={  # t-pets: renamed last
        "agentId": "plain", "searchQuery": "RAINY", "resourceId": "alice"})
    named = api("GET", "/api/memory/search", query={
        "agentId": "plain", "searchQuery": "meetings", "resourceId": "alice",
        "threadId": "t-work"})

    assert latest.status == 200 and latest.body["searchType"] == "text"
    assert [r["content"] for r in latest.body["results"]] == [
        "Echo: the weather is rainy", "the weather is rainy"]
    assert [r["content"] for r in named.body["results"]] == [
        "Echo: meetings all day", "meetings all day"]
    assert "Miso" not in json.dumps(named.body)


def test_no_thread_of_that_resource_is_an_empty_answer(api: Call, app: App) -> None:
    reply = api("GET", "/api/memory/search", query={
        "agentId": "plain", "searchQuery": "x", "resourceId": "nobody"})
    assert reply.status == 200 and reply.body["results"] == [] and reply.body["count"] == 0


@pytest.mark.parametrize(("query", "status", "field"), [
    ({"resourceId": "alice"}, 400, "searchQuery"),
    ({"searchQuery": "  ", "resourceId": "alice"}, 400, "searchQuery"),
    ({"searchQuery": "x"}, 400, "resourceId"),
    ({"searchQuery": "x", "resourceId": "undefined"}, 400, "resourceId"),
    ({"searchQuery": "x", "resourceId": "alice", "limit": "0"}, 400, "limit"),
    ({"searchQuery": "x", "resourceId": "alice", "limit": "many"}, 400, "limit"),
    ({"searchQuery": "x", "resourceId": "alice", "memoryConfig": "{"}, 400, "memoryConfig"),
    ({"searchQuery": "x", "resourceId": "alice", "memoryConfig": "[1]"}, 400, "memoryConfig"),
    ({"searchQuery": "x", "resourceId": "alice",
      "memoryConfig": '{"semanticRecall": {"topK": 500}}'}, 400, "topK"),
    ({"searchQuery": "x", "resourceId": "alice",
      "memoryConfig": '{"semanticRecall": {"scope": "galaxy"}}'}, 400, "scope"),
    ({"searchQuery": "x", "resourceId": "alice",
      "memoryConfig": '{"semanticRecall": {"threshold": 3}}'}, 400, "threshold"),
    ({"searchQuery": "x", "resourceId": "alice",
      "memoryConfig": '{"semanticRecall": {"scope": "thread"}}'}, 400, "threadId"),
    ({"searchQuery": "x", "resourceId": "alice", "threadId": "t-nope"}, 404, "Thread"),
    ({"searchQuery": "x", "resourceId": "alice", "threadId": "t-bob"}, 404, "Thread"),
    ({"searchQuery": "x" * 10_001, "resourceId": "alice"}, 400, "searchQuery"),
])
def test_bad_input_is_a_4xx_naming_the_field(api: Call, talked: App, query: dict[str, str],
                                              status: int, field: str) -> None:
    reply = _search(api, **query)
    assert reply.status == status, reply.body
    assert field in reply.body["error"]


def test_agent_is_required_and_must_exist(api: Call, app: App) -> None:
    reply = api("GET", "/api/memory/search", query={"searchQuery": "x", "resourceId": "a"})
    assert reply.status == 400 and "agentId" in reply.body["error"]
    reply = api("GET", "/api/memory/search", query={"agentId": "ghost", "searchQuery": "x",
                                                    "resourceId": "a"})
    assert reply.status == 404


def test_jwt_caller_searches_only_its_own_resource(jwt_api: Call,  # noqa: F811
                                                   talked: App) -> None:
    bob = as_user(jwt_api, "bob")

    reply = bob("GET", "/api/memory/search", query={
        "agentId": "assistant", "searchQuery": "what is my cat called", "resourceId": "alice"})
    assert reply.status == 200
    contents = json.dumps(reply.body["results"])
    assert "Shadow" in contents and "Miso" not in contents

    stolen = bob("GET", "/api/memory/search", query={
        "agentId": "assistant", "searchQuery": "cat", "resourceId": "alice",
        "threadId": "t-pets"})
    assert stolen.status == 404


def test_the_route_is_in_the_openapi_document(api: Call, app: App) -> None:
    document = api("GET", "/api/openapi.json").body
    params = {p["name"] for p in document["paths"]["/api/memory/search"]["get"]["parameters"]}
    assert {"agentId", "searchQuery", "resourceId", "threadId", "limit", "memoryConfig"} <= params


def test_generate_passes_per_call_memory_options(api: Call, talked: App) -> None:
    memory = {"thread": "t-pets", "resource": "alice"}
    bad = api("POST", "/api/agents/assistant/generate", body={
        "messages": "hi", "memory": {**memory, "options": {"semanticRecall": {"topK": 0}}}})
    assert bad.status == 400 and "topK" in bad.body["error"]

    ok = api("POST", "/api/agents/assistant/generate", body={
        "messages": "what is my cat called",
        "memory": {**memory, "options": {"lastMessages": 0, "semanticRecall": False}}})
    assert ok.status == 200
