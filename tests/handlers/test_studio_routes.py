"""The routes Mastra Studio calls: Mastra's shapes, our data, JSON 4xx for bad input.

Shapes were recorded from a real Mastra server (``@mastra/core`` 1.71 + ``@mastra/deployer``
1.69, DuckDB observability) answering Studio 1.31, and checked against
``@mastra/server``'s schemas.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import Agent, App, FunctionScorer, InlineJobRunner, Memory
from agents.models import Reply as ModelReply
from agents.models import ScriptedModel
from handlers import _wiring
from storage.timeutil import to_iso, utcnow
from tests.handlers.conftest import Call
from tests.handlers.test_auth import as_user, jwt_api  # noqa: F401 (fixture)

THREAD = {"thread": "t-1", "resource": "u-1"}


def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first.
        b: the second.
    """
    return a + b


@pytest.fixture
def app(store: Any) -> App:
    """``assistant`` (echo, titles, working memory) and ``calc`` (a tool and a scorer)."""
    calc = Agent(id="calc", name="Calculator", tools=[add],
                 model=ScriptedModel([ModelReply(tool_calls=[("add", {"a": 1, "b": 2})]), "3"]),
                 scorers=[FunctionScorer("brevity", lambda run: (1.0, "short"))],
                 memory=Memory(last_messages=5))
    served = App(agents=[Agent(id="assistant", model="local/echo",
                               memory=Memory(generate_title=True, working_memory=True)), calc],
                 storage=store, jobs=InlineJobRunner())
    _wiring.use_app(served)
    return served


def window(days: int = 1) -> dict[str, str]:
    now = utcnow()
    return {"from": to_iso(now - timedelta(days=days)), "to": to_iso(now + timedelta(minutes=1))}


def metric_filters() -> dict[str, Any]:
    w = window()
    return {"timestamp": {"start": w["from"], "end": w["to"]}}


# --- discovery and absent features ------------------------------------------------


def test_root_and_capabilities_answer_without_auth(api: Call) -> None:
    assert api("GET", "/").status == 200
    assert api("GET", "/api").body["api"] == "/api"
    assert api("GET", "/api/auth/capabilities").body == {"enabled": False, "login": None}


def test_capabilities_under_jwt(jwt_api: Call) -> None:  # noqa: F811
    # Without a token: auth is on, no login form (Studio sends the token as a custom header).
    anonymous = jwt_api("GET", "/api/auth/capabilities")
    assert anonymous.status == 200 and anonymous.body == {"enabled": True, "login": None}
    # With one: Mastra's authenticated shape, the subject as the user.
    known = as_user(jwt_api, "alice")("GET", "/api/auth/capabilities").body
    assert known["enabled"] is True and known["user"] == {"id": "alice"}
    assert set(known["capabilities"]) == {"user", "session", "sso", "rbac", "acl", "fga"}
    # Everything else still needs the token.
    assert jwt_api("GET", "/api/system/packages").status == 401


def test_system_packages_say_metrics_and_trace_queries_work(api: Call) -> None:
    body = api("GET", "/api/system/packages").body
    assert body["observabilityEnabled"] is True
    assert body["observabilityStorageCapabilities"] == {
        "metrics": True, "logs": False, "traceQueryDiscovery": True}
    assert body["observabilityStorageType"].startswith("Stowage")
    assert body["packages"] == [] and body["isDev"] is False


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/agents/providers", {"providers": []}),
    ("/api/editor/builder/settings", {"enabled": False, "modelPolicy": {"active": False}}),
    ("/api/editor/builder/models/available", {"providers": []}),
    ("/api/agents/assistant/voice/speakers", []),
    ("/api/channels/platforms", []),
    ("/api/experiments/review-summary", {"counts": []}),
    ("/api/mcp/v0/servers", {"servers": [], "total_count": 0, "next": None}),
    ("/api/processors", {}),
    ("/api/workspaces", {"workspaces": []}),
    ("/api/datasets", {"datasets": [], "pagination": {"total": 0, "page": 0, "perPage": 10,
                                                      "hasMore": False}}),
    ("/api/observability/feedback", {"pagination": {"total": 0, "page": 0, "perPage": 10,
                                                    "hasMore": False},
                                     "feedback": [], "deltaCursor": "0"}),
    ("/api/observability/logs", {"pagination": {"total": 0, "page": 0, "perPage": 20,
                                                "hasMore": False},
                                 "logs": [], "deltaCursor": "0"}),
    ("/api/workflows", {}),
    ("/api/workflows/run-counts", {}),
])
def test_absent_features_answer_mastras_empty_shape(api: Call, path: str, expected: Any) -> None:
    reply = api("GET", path)
    assert (reply.status, reply.body) == (200, expected)


@pytest.mark.parametrize("route", ["threads/subscribe", "send-message", "queue-message",
                                   "signals"])
def test_thread_subscriptions_and_signals_are_501(api: Call, route: str) -> None:
    # 501 is what Studio reads as "not supported": it then chats through /stream.
    reply = api("POST", f"/api/agents/assistant/{route}", body={"threadId": "t-1"})
    assert reply.status == 501 and "not supported" in reply.body["error"]
    assert api("POST", f"/api/agents/nobody/{route}", body={}).status == 404


def test_voice_of_an_unknown_agent_is_404(api: Call) -> None:
    assert api("GET", "/api/agents/nobody/voice/speakers").body == {"error": "Agent not found"}


# --- catalog ----------------------------------------------------------------------


def test_tools_are_listed_with_superjson_schemas(api: Call) -> None:
    tools = api("GET", "/api/tools").body
    assert list(tools) == ["add"]
    assert tools["add"]["description"].startswith("Add two numbers")
    schema = json.loads(tools["add"]["inputSchema"])["json"]
    assert schema["required"] == ["a", "b"] and tools["add"]["requireApproval"] is False
    assert api("GET", "/api/tools/add").body == tools["add"]
    assert api("GET", "/api/tools/nope").status == 404


def test_scorers_list_the_agents_using_them(api: Call) -> None:
    scorers = api("GET", "/api/scores/scorers").body
    assert scorers == {"brevity": {
        "scorer": {"config": {"id": "brevity", "name": "brevity", "description": ""}},
        "sampling": {"type": "ratio", "rate": 1.0},
        "agentIds": ["calc"], "agentNames": ["Calculator"], "workflowIds": [],
        "isRegistered": False, "source": "code"}}
    assert api("GET", "/api/scores/scorers/brevity").body == scorers["brevity"]
    assert api("GET", "/api/scores/scorers/nope").status == 404


def test_memory_config_is_the_agents_settings(api: Call) -> None:
    config = api("GET", "/api/memory/config", query={"agentId": "assistant"}).body["config"]
    assert config["lastMessages"] == 10 and config["generateTitle"] is True
    assert config["semanticRecall"] is False
    assert config["workingMemory"]["enabled"] is True
    assert config["workingMemory"]["template"].startswith("# User Information")
    calc = api("GET", "/api/memory/config", query={"agentId": "calc"}).body["config"]
    assert calc["lastMessages"] == 5 and calc["workingMemory"] == {"enabled": False,
                                                                   "scope": "resource"}
    assert api("GET", "/api/memory/config").status == 400
    assert api("GET", "/api/memory/config", query={"agentId": "nope"}).status == 404


def test_memory_config_reports_semantic_recall_when_the_memory_has_it(api: Call,
                                                                       app: App) -> None:
    # Semantic recall lands separately; the route reads the attribute when it exists.
    app.agents["calc"].memory.semantic_recall = {"top_k": 3, "message_range": 2}  # type: ignore[union-attr]
    config = api("GET", "/api/memory/config", query={"agentId": "calc"}).body["config"]
    assert config["semanticRecall"] == {"topK": 3, "messageRange": 2}


# --- traces -----------------------------------------------------------------------


@pytest.fixture
def runs(app: App) -> list[Any]:
    """Two runs of ``calc`` (tool call each) and one of ``assistant``, on two threads.

    Each starts in a later millisecond than the one before (spans keep milliseconds), so
    "newest first" has one answer; runs in one millisecond are ordered by trace id.
    """
    first = app.agents["calc"].generate("1+2", memory=THREAD)
    app.agents["calc"].model = ScriptedModel([ModelReply(tool_calls=[("add", {"a": 2, "b": 2})]),
                                              "4"])
    time.sleep(0.002)
    second = app.agents["calc"].generate("2+2", memory=THREAD)
    time.sleep(0.002)
    third = app.agents["assistant"].generate("hello", memory={"thread": "t-2", "resource": "u-2"})
    return [first, second, third]


def test_trace_query_lists_completed_runs_newest_first(api: Call, runs: list[Any]) -> None:
    body = api("POST", "/api/observability/traces/query", body={"timeRange": window()}).body
    assert [t["traceId"] for t in body["traces"]] == [r.trace_id for r in reversed(runs)]
    row = body["traces"][-1]
    assert set(row) == {"traceId", "rootSpanId", "name", "entityId", "parentSpanId",
                        "createdAt", "metadata", "inputPreview", "threadId", "resourceId",
                        "startedAt", "endedAt", "entityName", "entityType", "environment",
                        "status"}
    assert row["name"] == "agent run: 'calc'" and row["status"] == "success"
    assert row["threadId"] == "t-1" and row["metadata"] == {"runId": runs[0].run_id}
    assert "1+2" in row["inputPreview"] and body["page"] == {"next": None}


def test_trace_query_pages_by_cursor_and_filters(api: Call, runs: list[Any]) -> None:
    first = api("POST", "/api/observability/traces/query",
                body={"timeRange": window(), "page": {"limit": 2}}).body
    assert len(first["traces"]) == 2 and first["page"]["next"]
    rest = api("POST", "/api/observability/traces/query",
               body={"timeRange": window(), "page": {"limit": 2,
                                                     "after": first["page"]["next"]}}).body
    assert [t["traceId"] for t in first["traces"] + rest["traces"]] == [
        r.trace_id for r in reversed(runs)]
    where = {"op": "and", "args": [
        {"op": "eq", "left": {"path": "entityName"}, "right": {"literal": "Calculator"}},
        {"op": "in", "value": {"path": "metadata.runId"}, "set": [runs[1].run_id]}]}
    only = api("POST", "/api/observability/traces/query",
               body={"timeRange": window(), "where": where}).body["traces"]
    assert [t["traceId"] for t in only] == [runs[1].trace_id]
    oldest = api("POST", "/api/observability/traces/query", body={
        "timeRange": window(), "orderBy": [{"field": "startedAt", "direction": "asc"}],
        "pagination": {"page": 0, "perPage": 1}}).body
    assert oldest["traces"][0]["traceId"] == runs[0].trace_id
    assert oldest["pagination"] == {"total": 3, "page": 0, "perPage": 1, "hasMore": True}


def test_trace_query_delta_returns_runs_ended_since_the_cursor(api: Call, app: App,
                                                               runs: list[Any]) -> None:
    body = api("POST", "/api/observability/traces/query",
               body={"timeRange": window(), "mode": "delta"}).body
    assert len(body["traces"]) == 3 and body["delta"] == {"limit": 25, "hasMore": False}
    again = api("POST", "/api/observability/traces/query",
                body={"timeRange": window(), "mode": "delta", "after": body["deltaCursor"]}).body
    assert again["traces"] == []
    later = app.agents["assistant"].generate("later", memory={"thread": "t-2", "resource": "u-2"})
    fresh = api("POST", "/api/observability/traces/query",
                body={"timeRange": window(), "mode": "delta", "after": body["deltaCursor"]}).body
    assert [t["traceId"] for t in fresh["traces"]] == [later.trace_id]


@pytest.mark.parametrize("bad", [
    {},
    {"timeRange": "yesterday"},
    {"timeRange": {"from": "not a date", "to": "2025-01-01T00:00:00Z"}},
    {"timeRange": {"from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}},
    {"timeRange": window(), "page": {"limit": 0}},
    {"timeRange": window(), "page": {"limit": 101}},
    {"timeRange": window(), "page": {"after": "!!not-a-cursor"}},
    {"timeRange": window(), "orderBy": [{"field": "name", "direction": "asc"}]},
    {"timeRange": window(), "where": {"op": "regex", "path": "name"}},
    {"timeRange": window(), "where": {"spans": {"some": {"op": "exists", "path": "name"}}}},
    {"timeRange": window(), "where": {"op": "eq", "left": {"path": "x"}, "right": {"literal": []}}},
    {"timeRange": window(), "mode": "stream"},
    {"timeRange": window(), "group": {"by": ["threadId"]}},
    {"timeRange": window(), "surprise": 1},
])
def test_bad_trace_queries_are_json_400(api: Call, bad: dict[str, Any]) -> None:
    reply = api("POST", "/api/observability/traces/query", body=bad)
    assert reply.status == 400 and isinstance(reply.body["error"], str)


def test_deeply_nested_predicates_are_refused(api: Call) -> None:
    where: dict[str, Any] = {"op": "exists", "path": "traceId"}
    for _ in range(13):
        where = {"op": "not", "arg": where}
    reply = api("POST", "/api/observability/traces/query",
                body={"timeRange": window(), "where": where})
    assert reply.status == 400 and "12 levels" in reply.body["error"]


def test_a_non_object_body_is_400(api: Call) -> None:
    reply = api("POST", "/api/observability/traces/query", raw="[1, 2]")
    assert reply.status == 400 and reply.body == {"error": "request body must be a JSON object"}


def test_query_fields_list_canonical_and_observed_metadata(api: Call, runs: list[Any]) -> None:
    body = api("POST", "/api/observability/traces/query/fields",
               body={"timeRange": window(), "predicateScope": "trace", "limit": 100}).body
    assert [f["path"] for f in body["canonicalFields"]][:3] == ["traceId", "threadId",
                                                               "resourceId"]
    assert body["observedFields"] == [{"path": "metadata.runId", "valueKind": "string",
                                       "operators": body["canonicalFields"][0]["operators"],
                                       "valueSuggestions": True, "occurrences": 3}]
    assert body["observedFieldsTruncated"] is False
    assert api("POST", "/api/observability/traces/query/fields",
               body={"predicateScope": "everything"}).status == 400


def test_trace_detail_is_the_span_tree(api: Call, runs: list[Any]) -> None:
    spans = api("GET", f"/api/observability/traces/{runs[0].trace_id}").body["spans"]
    names = sorted(s["name"] for s in spans)
    assert names == sorted(["agent run: 'calc'", "memory: recall", "llm: 'scripted'",
                            "tool: 'add'", "llm: 'scripted'", "memory: save"])
    root = next(s for s in spans if s["parentSpanId"] is None)
    assert all(s["parentSpanId"] == root["spanId"] for s in spans if s is not root)
    assert {s["status"] for s in spans} == {"success"} and root["isEvent"] is False


def test_light_traces_of_a_thread(api: Call, runs: list[Any]) -> None:
    body = api("GET", "/api/observability/traces/light",
               query={"threadId": "t-1", "page": 0, "perPage": 25}).body
    assert body["pagination"] == {"total": 2, "page": 0, "perPage": 25, "hasMore": False}
    assert [s["traceId"] for s in body["spans"]] == [runs[1].trace_id, runs[0].trace_id]
    assert "input" not in body["spans"][0] and body["spans"][0]["status"] == "success"
    assert api("GET", "/api/observability/traces/light", query={"page": "-1"}).status == 400


def test_span_scores(api: Call, app: App, runs: list[Any]) -> None:
    root = next(s for s in app.storage.observability.get_trace(runs[0].trace_id) if s.is_root)
    body = api("GET", f"/api/observability/traces/{root.trace_id}/{root.span_id}/scores").body
    assert [s["scorerId"] for s in body["scores"]] == ["brevity"]
    assert body["pagination"]["total"] == 1


def test_discovery(api: Call, runs: list[Any]) -> None:
    assert api("GET", "/api/observability/discovery/entity-names",
               query={"entityType": "agent"}).body == {"names": ["Calculator", "assistant"]}
    assert api("GET", "/api/observability/discovery/entity-types").body == {
        "entityTypes": ["agent"]}
    assert api("GET", "/api/observability/discovery/service-names").body == {
        "serviceNames": ["stowage"]}
    assert api("GET", "/api/observability/discovery/environments").body == {"environments": []}
    assert api("GET", "/api/observability/discovery/tags").body == {"tags": []}


# --- metrics ----------------------------------------------------------------------


def _metric(api: Call, kind: str, **body: Any) -> Any:
    reply = api("POST", f"/api/observability/metrics/{kind}",
                body={"filters": metric_filters(), **body})
    assert reply.status == 200, reply.body
    return reply.body


def test_metric_aggregates_from_spans(api: Call, runs: list[Any]) -> None:
    tokens = sum(r.usage.total_tokens for r in runs)
    runs_count = _metric(api, "aggregate", name=["mastra_agent_duration_ms"],
                         aggregation="count", comparePeriod="previous_period")
    assert runs_count == {"value": 3, "estimatedCost": None, "costUnit": None,
                          "previousValue": 0, "previousEstimatedCost": None,
                          "changePercent": None, "costChangePercent": None}
    total = _metric(api, "aggregate", aggregation="sum",
                    name=["mastra_model_total_input_tokens", "mastra_model_total_output_tokens"])
    assert total["value"] == tokens
    threads = _metric(api, "aggregate", name=["mastra_agent_duration_ms"],
                      aggregation="count_distinct", distinctColumn="threadId")
    assert threads["value"] == 2
    nothing = _metric(api, "aggregate", name="mastra_workflow_duration_ms", aggregation="sum")
    assert nothing["value"] is None


def test_metric_breakdown_by_agent_and_thread(api: Call, runs: list[Any]) -> None:
    by_agent = _metric(api, "breakdown", name=["mastra_agent_duration_ms"], aggregation="count",
                       groupBy=["entityName", "status"])
    assert by_agent["groups"] == [
        {"dimensions": {"entityName": "Calculator", "status": "ok"}, "value": 2,
         "estimatedCost": None, "costUnit": None},
        {"dimensions": {"entityName": "assistant", "status": "ok"}, "value": 1,
         "estimatedCost": None, "costUnit": None}]
    by_model = _metric(api, "breakdown", name=["mastra_model_total_output_tokens"],
                       aggregation="sum", groupBy=["model"])
    assert {g["dimensions"]["model"] for g in by_model["groups"]} == {"scripted", "local/echo"}
    one_trace = _metric(api, "breakdown", name=["mastra_model_total_input_tokens"],
                        aggregation="sum", groupBy=["traceId"],
                        filters={**metric_filters(), "traceIds": [runs[2].trace_id]})
    assert one_trace["groups"] == [{"dimensions": {"traceId": runs[2].trace_id},
                                    "value": runs[2].usage.input_tokens,
                                    "estimatedCost": None, "costUnit": None}]
    tools = _metric(api, "breakdown", name=["mastra_tool_duration_ms"], aggregation="count",
                    groupBy=["entityName"])
    assert [(g["dimensions"], g["value"]) for g in tools["groups"]] == [({"entityName": "add"}, 2)]


def test_metric_timeseries_and_percentiles(api: Call, runs: list[Any]) -> None:
    series = _metric(api, "timeseries", name=["mastra_model_total_input_tokens"],
                     aggregation="sum", interval="1h")["series"]
    assert [s["name"] for s in series] == ["mastra_model_total_input_tokens"]
    assert sum(p["value"] for p in series[0]["points"]) == sum(r.usage.input_tokens
                                                               for r in runs)
    assert all(p["timestamp"].endswith(":00:00.000Z") for p in series[0]["points"])
    pct = _metric(api, "percentiles", name="mastra_agent_duration_ms",
                  percentiles=[0.5, 0.95], interval="1d")["series"]
    assert [s["percentile"] for s in pct] == [0.5, 0.95]
    assert all(p["value"] >= 0 for s in pct for p in s["points"]) and pct[0]["points"]


@pytest.mark.parametrize(("kind", "bad"), [
    ("aggregate", {}),
    ("aggregate", {"name": []}),
    ("aggregate", {"name": "x", "aggregation": "median"}),
    ("aggregate", {"name": "x", "aggregation": "count_distinct"}),
    ("aggregate", {"name": "x", "comparePeriod": "last_year"}),
    ("aggregate", {"name": "x", "filters": {"timestamp": {"start": "soon"}}}),
    ("aggregate", {"name": "x", "filters": {"entityName": {"$ne": 1}}}),
    ("breakdown", {"name": "x"}),
    ("breakdown", {"name": "x", "groupBy": "entityName"}),
    ("breakdown", {"name": "x", "groupBy": ["a"], "limit": 0}),
    ("breakdown", {"name": "x", "groupBy": ["a"], "orderDirection": "sideways"}),
    ("timeseries", {"name": "x", "interval": "3h"}),
    ("percentiles", {"name": "x", "percentiles": [1.5]}),
    ("percentiles", {"name": "x", "percentiles": "p95"}),
])
def test_bad_metric_requests_are_json_400(api: Call, kind: str, bad: dict[str, Any]) -> None:
    reply = api("POST", f"/api/observability/metrics/{kind}", body=bad)
    assert reply.status == 400 and isinstance(reply.body["error"], str)


# --- tenants ----------------------------------------------------------------------


def test_a_tenant_sees_only_its_own_runs(jwt_api: Call, app: App) -> None:  # noqa: F811
    mine = app.agents["assistant"].generate("mine", memory={"thread": "ta", "resource": "alice"})
    theirs = app.agents["assistant"].generate("theirs", memory={"thread": "tb", "resource": "bob"})
    alice = as_user(jwt_api, "alice")
    traces = alice("POST", "/api/observability/traces/query", body={"timeRange": window()}).body
    assert [t["traceId"] for t in traces["traces"]] == [mine.trace_id]
    assert alice("GET", "/api/observability/traces/light",
                 query={"threadId": "tb"}).body["spans"] == []
    count = alice("POST", "/api/observability/metrics/aggregate", body={
        "name": "mastra_agent_duration_ms", "aggregation": "count",
        "filters": metric_filters()}).body
    assert count["value"] == 1
    tokens = alice("POST", "/api/observability/metrics/breakdown", body={
        "name": "mastra_model_total_input_tokens", "aggregation": "sum", "groupBy": ["traceId"],
        "filters": {**metric_filters(), "traceIds": [theirs.trace_id]}}).body
    assert tokens == {"groups": []}
    assert alice("GET", f"/api/observability/traces/{theirs.trace_id}").status == 404
    fields = alice("POST", "/api/observability/traces/query/fields",
                   body={"timeRange": window()}).body
    assert fields["observedFields"][0]["occurrences"] == 1


# --- no input is a 5xx --------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20)
_KEYS = ["timeRange", "where", "orderBy", "page", "pagination", "mode", "after", "limit", "name",
         "aggregation", "filters", "groupBy", "interval", "percentiles", "comparePeriod",
         "distinctColumn", "orderDirection", "predicateScope", "op", "left", "right", "set",
         "from", "to", "start", "end", "timestamp", "traceIds"]
_BODIES = _JSON | st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=6)
_POSTS = ["/api/observability/traces/query", "/api/observability/traces/query/fields",
          "/api/observability/metrics/aggregate", "/api/observability/metrics/breakdown",
          "/api/observability/metrics/timeseries", "/api/observability/metrics/percentiles"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(_POSTS), body=_BODIES)
def test_no_body_makes_a_studio_route_fail(api: Call, runs: list[Any], path: str,
                                           body: Any) -> None:
    reply = api("POST", path, body=body)
    assert reply.status in (200, 400), (path, body, reply.body)
    if reply.status == 400:
        assert isinstance(reply.body["error"], str)


def test_traces_and_metrics_on_dynamodb(aws_store: Any, api: Call) -> None:
    # The same answers from the deployed backend: the roots index serves the window.
    served = App(agents=[Agent(id="assistant", model="local/echo")], storage=aws_store,
                 jobs=InlineJobRunner())
    _wiring.use_app(served)
    result = served.agents["assistant"].generate("hi", memory=THREAD)
    traces = api("POST", "/api/observability/traces/query",
                 body={"timeRange": window()}).body["traces"]
    assert [t["traceId"] for t in traces] == [result.trace_id]
    detail = api("GET", f"/api/observability/traces/{result.trace_id}").body["spans"]
    assert len(detail) == 4
    tokens = api("POST", "/api/observability/metrics/aggregate", body={
        "name": ["mastra_model_total_input_tokens", "mastra_model_total_output_tokens"],
        "aggregation": "sum", "filters": metric_filters()}).body
    assert tokens["value"] == result.usage.total_tokens
