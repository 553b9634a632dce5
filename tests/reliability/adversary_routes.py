"""Every route the dev server serves, and the requests that aim it at another tenant.

:data:`PROBES` maps each route (``"METHOD /api/path/{param}"``, as the routers
declare it) to the requests an attacker sends to reach a victim's data through it:
the victim's ids in every path and query position, and the victim's resource where a
request names one. :func:`served_routes` lists the routes from the routers
themselves, so a route added without a probe here fails the adversarial module.

A :class:`Probe` says how to judge its answer under IAM, where the caller is an
operator trusted with every resource: ``asks`` is whose data the request names (the
``victim``'s, the ``attacker``'s own while smuggling the victim's ids, or ``all``
for an operator-wide question), and the answer must hold no other tenant's data;
``writes`` requests would legitimately change what they name, so they run under JWT
only (there they must change nothing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.reliability.adversary import AGENT, COMMON_WORD, SCORER, Tenant

WINDOW = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
METRIC_WINDOW = {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}


@dataclass(frozen=True)
class Probe:
    """One request of the attacker (see the module docstring)."""

    method: str
    path: str
    params: dict[str, str] | None = None
    json: Any = None
    asks: str = "victim"
    writes: bool = False

    def sent(self) -> str:
        """Everything the request carries, to tell an echo from a leak."""
        return json.dumps([self.path, self.params, self.json], default=str)


Probes = Callable[[Tenant, Tenant], list[Probe]]


def _get(path: str, asks: str = "victim", **params: str) -> Probe:
    return Probe("GET", path, params or None, asks=asks)


def _post(path: str, body: Any, *, asks: str = "victim", writes: bool = False) -> Probe:
    return Probe("POST", path, json=body, asks=asks, writes=writes)


def _mine(path: str, **params: str) -> Probe:
    """A request about the attacker's own data, smuggling the victim's ids."""
    return _get(path, "attacker", **params)


def _nothing_of_a_tenant(path: str) -> Probes:
    """A route that shows no tenant's data (it must still show none)."""
    return lambda a, v: [_get(path, "all")]


def _unsupported(what: str) -> Probes:
    """Studio's subscription and signal routes (501): naming the victim's thread."""
    return lambda a, v: [_post(f"/api/agents/{AGENT}/{what}", {
        "threadId": v.thread, "resourceId": v.name}, writes=True)]


def _turn(route: str) -> Probes:
    def probes(a: Tenant, v: Tenant) -> list[Probe]:
        def body(thread: str, resource: str, message: dict[str, Any], **extra: Any) -> Any:
            return {"messages": [{"role": "user", "content": "hi", **message}],
                    "memory": {"thread": thread, "resource": resource}, **extra}

        mine = f"{a.name}-t9"
        return [
            # The victim's thread, as the victim's resource and as the attacker's
            _post(route, body(v.thread, v.name, {}), writes=True),
            _post(route, body(v.thread, a.name, {}), writes=True),
            # The attacker's own thread, smuggling the victim's ids and blobs
            *(_post(route, body(mine, a.name, message, **extra), asks="attacker")
              for message, extra in [
                ({"id": v.question}, {}),
                ({"id": v.answer}, {}),
                ({"id": f"{a.name}-new"}, {"runId": v.run}),
                ({"experimental_attachments": [
                    {"name": "x", "contentType": "text/plain", "url": v.blob_uri}]}, {}),
                ({"content": [{"type": "text", "text": "read"},
                              {"type": "file", "data": v.blob_uri,
                               "mimeType": "text/plain"}]}, {})]),
        ]

    return probes


def _thread_route(method: str, suffix: str = "", body: Any = None, *,
                  writes: bool = False) -> Probes:
    def probes(a: Tenant, v: Tenant) -> list[Probe]:
        path = f"/api/memory/threads/{v.thread}{suffix}"
        return [Probe(method, path, {"agentId": AGENT}, body, writes=writes or method != "GET")]

    return probes


def _messages(a: Tenant, v: Tenant) -> list[Probe]:
    window = json.dumps([{"id": v.question, "withPreviousMessages": 5, "withNextMessages": 5}])
    return [
        _get(f"/api/memory/threads/{v.thread}/messages"),
        _mine(f"/api/memory/threads/{a.thread}/messages", include=window),
        _mine(f"/api/memory/threads/{a.thread}/messages", perPage="0", include=json.dumps(
            [{"id": v.answer, "withPreviousMessages": 100}])),
    ]


def _working_memory(a: Tenant, v: Tenant) -> list[Probe]:
    return [
        _get(f"/api/memory/threads/{v.thread}/working-memory", agentId=AGENT),
        _mine(f"/api/memory/threads/{a.thread}/working-memory", agentId=AGENT,
              resourceId=v.name),
        _get(f"/api/memory/threads/{a.name}-nothread/working-memory", resourceId=v.name),
    ]


def _set_working_memory(a: Tenant, v: Tenant) -> list[Probe]:
    path = "/api/memory/threads/{}/working-memory"
    return [
        _post(path.format(v.thread), {"workingMemory": "defaced"}, writes=True),
        # (under JWT this names the attacker's own resource: it rewrites what she has)
        _post(path.format(a.thread), {"workingMemory": f"# notes {a.secret}",
                                      "resourceId": v.name}, asks="attacker"),
    ]


def _search(a: Tenant, v: Tenant) -> list[Probe]:
    base = {"agentId": AGENT, "searchQuery": COMMON_WORD}
    everywhere = json.dumps({"semanticRecall": {"topK": 50, "scope": "resource",
                                                "messageRange": 5}})
    return [
        _get("/api/memory/search", **base, resourceId=v.name),
        _get("/api/memory/search", **base, resourceId=v.name, threadId=v.thread),
        _mine("/api/memory/search", **base, resourceId=a.name, threadId=v.thread),
        _get("/api/memory/search", **base, resourceId=v.name, memoryConfig=everywhere),
        _get("/api/memory/search", **base, resourceId=v.name,
             memoryConfig=json.dumps({"semanticRecall": False, "lastMessages": 100})),
    ]


def _traces_query(a: Tenant, v: Tenant) -> list[Probe]:
    route = "/api/observability/traces/query"

    def eq(path: str, value: str) -> dict[str, Any]:
        return {"op": "eq", "left": {"path": path}, "right": {"literal": value}}

    return [
        _post(route, {"timeRange": WINDOW, "where": eq("resourceId", v.name)}),
        _post(route, {"timeRange": WINDOW, "where": eq("threadId", v.thread)}),
        _post(route, {"timeRange": WINDOW, "where": {"op": "or", "args": [
            eq("traceId", v.trace), {"op": "exists", "path": "resourceId"}]}}, asks="all"),
        _post(route, {"timeRange": WINDOW, "page": {"limit": 1, "after": "MQ=="}}, asks="all"),
        _post(route, {"timeRange": WINDOW, "pagination": {"page": 0, "perPage": 100}},
              asks="all"),
        _post(route, {"timeRange": WINDOW, "mode": "delta", "after": "2000-01-01T00:00:00Z",
                      "where": eq("resourceId", v.name)}),
    ]


def _metrics(kind: str) -> Probes:
    def probes(a: Tenant, v: Tenant) -> list[Probe]:
        route = f"/api/observability/metrics/{kind}"
        common: dict[str, Any] = {"name": ["mastra_agent_duration_ms",
                                           "mastra_model_total_input_tokens"]}
        extra: dict[str, Any] = {
            "aggregate": {"aggregation": "count_distinct", "distinctColumn": "threadId",
                          "comparePeriod": "previous_day"},
            "breakdown": {"groupBy": ["resourceId", "threadId", "traceId"]},
            "timeseries": {"groupBy": ["resourceId", "threadId"], "interval": "1d"},
            "percentiles": {"interval": "1d"},
        }[kind]
        scoped = {"timestamp": METRIC_WINDOW, "resourceIds": [v.name]}
        return [
            _post(route, {**common, **extra, "filters": scoped}),
            _post(route, {**common, **extra, "filters": {**scoped, "threadId": v.thread}}),
            _post(route, {**common, **extra, "filters": {"timestamp": METRIC_WINDOW}},
                  asks="all"),
        ]

    return probes


def _blob(a: Tenant, v: Tenant) -> list[Probe]:
    """The dev server's download route: the attacker's own signature on the victim's key."""
    from tests.reliability.adversary import signed_parts

    probes = [_get(f"/api/blobs/{v.blob_key}", expires="9999999999", signature="0" * 64)]
    if a.link:
        path, query = signed_parts(a.link)
        probes.append(_mine(f"/api/blobs/{v.blob_key}", **query))
        probes.append(_mine(path.replace(a.name, v.name), **query))
        probes.append(_mine(f"{path}/../../../{v.blob_key}", **query))
    return probes


def _upload(a: Tenant, v: Tenant) -> list[Probe]:
    """The dev server's upload route: the attacker's own grant aimed at the victim's prefix."""
    from tests.reliability.adversary import signed_parts

    if not a.upload_url:
        return [_post(f"/api/attachments/upload/attachments/{v.name}/{v.thread}/x", "x")]
    path, query = signed_parts(a.upload_url)
    stolen = path.replace(f"/{a.name}/{a.thread}/", f"/{v.name}/{v.thread}/")
    return [Probe("POST", stolen, query, "stolen", asks="attacker"),
            Probe("POST", f"{stolen}/../x", query, "x", asks="attacker")]


def _scores_of_span(a: Tenant, v: Tenant) -> list[Probe]:
    return [_get(f"/api/observability/traces/{v.trace}/{v.span}/scores")]


PROBES: dict[str, Probes] = {
    # Routes that show no tenant's data: they must still show none.
    **{f"GET {path}": _nothing_of_a_tenant(path) for path in (
        "/", "/api", "/api/health", "/api/openapi.json", "/api/auth/capabilities",
        "/api/system/packages", "/api/agents", "/api/agents/providers",
        "/api/editor/builder/settings",
        "/api/editor/builder/models/available", "/api/channels/platforms",
        "/api/experiments/review-summary", "/api/mcp/v0/servers", "/api/processors",
        "/api/workspaces", "/api/datasets", "/api/tools", "/api/scores/scorers",
        "/api/workflows", "/api/workflows/run-counts", "/api/observability/logs",
        "/api/observability/feedback", "/api/observability/discovery/service-names",
        "/api/observability/discovery/environments", "/api/observability/discovery/tags",
        "/api/observability/discovery/metric-names", "/api/memory/status")},
    "GET /api/agents/{agent_id}": _nothing_of_a_tenant(f"/api/agents/{AGENT}"),
    "GET /api/agents/{agent_id}/voice/speakers":
        _nothing_of_a_tenant(f"/api/agents/{AGENT}/voice/speakers"),
    "GET /api/tools/{tool_id}": _nothing_of_a_tenant("/api/tools/updateWorkingMemory"),
    "GET /api/scores/scorers/{scorer_id}": _nothing_of_a_tenant(f"/api/scores/scorers/{SCORER}"),
    "GET /api/memory/config": lambda a, v: [_get("/api/memory/config", "all", agentId=AGENT)],
    **{f"POST /api/agents/{{agent_id}}/{what}": _unsupported(what)
       for what in ("threads/subscribe", "send-message", "queue-message", "signals")},
    # Turns
    "POST /api/agents/{agent_id}/generate": _turn(f"/api/agents/{AGENT}/generate"),
    "POST /api/agents/{agent_id}/stream": _turn(f"/api/agents/{AGENT}/stream"),
    # Threads, messages, working memory
    "GET /api/memory/threads": lambda a, v: [
        _get("/api/memory/threads", resourceId=v.name),
        _get("/api/memory/threads", resourceId=v.name, metadata=json.dumps({"owner": v.secret})),
    ],
    "POST /api/memory/threads": lambda a, v: [
        _post("/api/memory/threads", {"resourceId": v.name, "threadId": v.thread,
                                      "title": "mine"}, writes=True),
        _post("/api/memory/threads", {"resourceId": a.name, "threadId": v.other_thread},
              asks="attacker"),
    ],
    "GET /api/memory/threads/{thread_id}": _thread_route("GET"),
    "PATCH /api/memory/threads/{thread_id}": _thread_route(
        "PATCH", body={"title": "defaced", "metadata": {"owner": "x"}}),
    "DELETE /api/memory/threads/{thread_id}": _thread_route("DELETE"),
    "GET /api/memory/threads/{thread_id}/messages": _messages,
    "GET /api/memory/threads/{thread_id}/working-memory": _working_memory,
    "POST /api/memory/threads/{thread_id}/working-memory": _set_working_memory,
    "GET /api/memory/search": _search,
    # Uploads and blobs
    "POST /api/attachments": lambda a, v: [
        _post("/api/attachments", {"contentType": "text/plain", "threadId": v.thread},
              writes=True),
        _post("/api/attachments", {"contentType": "text/plain", "threadId": a.thread,
                                   "resourceId": v.name}, asks="attacker"),
    ],
    "GET /api/blobs/{key}": _blob,
    "POST /api/attachments/upload/{key}": _upload,
    # Runs, traces, scores
    "GET /api/workflows/{workflow_name}/runs": lambda a, v: [
        _get(f"/api/workflows/agent:{AGENT}/runs", resourceId=v.name)],
    "GET /api/observability/traces": lambda a, v: [
        _get("/api/observability/traces", resourceId=v.name),
        _get("/api/observability/traces", resourceId=v.name, threadId=v.thread)],
    "GET /api/observability/traces/{trace_id}": lambda a, v: [
        _get(f"/api/observability/traces/{v.trace}")],
    "GET /api/observability/traces/{trace_id}/{span_id}/scores": _scores_of_span,
    "GET /api/observability/traces/light": lambda a, v: [
        _get("/api/observability/traces/light", threadId=v.thread),
        _get("/api/observability/traces/light", "all", entityId=AGENT)],
    "POST /api/observability/traces/query": _traces_query,
    "POST /api/observability/traces/query/fields": lambda a, v: [
        _post("/api/observability/traces/query/fields", {"timeRange": WINDOW}, asks="all")],
    "GET /api/observability/discovery/entity-names": lambda a, v: [
        _get("/api/observability/discovery/entity-names", "all", entityType="agent")],
    "GET /api/observability/discovery/entity-types": lambda a, v: [
        _get("/api/observability/discovery/entity-types", "all")],
    **{f"POST /api/observability/metrics/{kind}": _metrics(kind)
       for kind in ("aggregate", "breakdown", "timeseries", "percentiles")},
    "GET /api/scores/run/{run_id}": lambda a, v: [_get(f"/api/scores/run/{v.run}")],
    "GET /api/scores/scorer/{scorer_id}": lambda a, v: [
        _get(f"/api/scores/scorer/{SCORER}", "all", perPage="1"),
        _get(f"/api/scores/scorer/{SCORER}", "all", entityId=AGENT, entityType="AGENT")],
    "GET /api/scores/entity/{entity_type}/{entity_id}": lambda a, v: [
        _get(f"/api/scores/entity/AGENT/{AGENT}", "all")],
    # Issue 16 (branch erase): a stranger's resource is a 404, whatever it holds.
    "DELETE /api/memory/resources/{resource_id}": lambda a, v: [
        Probe("DELETE", f"/api/memory/resources/{v.name}", writes=True)],
    # An export changes nothing stored (it adds an archive under exports/): under IAM
    # the operator's export of Bob holds Bob's data only, and Alice's her own only.
    "POST /api/memory/resources/{resource_id}/export": lambda a, v: [
        _post(f"/api/memory/resources/{v.name}/export", {}),
        Probe("POST", f"/api/memory/resources/{a.name}/export", {"agentId": AGENT}, {},
              asks="attacker")],
}
# --- what an attacker sends besides other tenants' ids ---------------------------------

# The servers' body limit in the module: small enough to send an oversize body to every
# POST route quickly.
MAX_BODY = 64 * 1024
# Path segments as an attacker would write them: encoded slashes and dots, NUL, bytes
# that are not UTF-8, ids over the 512-character limit, and ids of 512 characters that
# take 1-4 UTF-8 bytes each (DynamoDB keys are bounded in bytes, not characters).
HOSTILE_SEGMENTS = ["%2F", "a%2Fb", "..", "%2E%2E", "%2e%2e%2f", "%00", "a%00b", "%FF", "%C0%AF",
                    "%20", "x" * 600, "é" * 512, "😀" * 512, "a\\b", "$"]
HOSTILE_QUERY = ["", "\x00", "x" * 4000, "[" * 1500 + "]" * 1500, "99999999999999999999", "-1",
                 "1e309", "null", '{"a":', "😀" * 200, "true", '{"__proto__":{"x":1}}']


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


HOSTILE_BODIES: list[bytes] = [
    b"[]", b"1", b'"x"', b"null", b"{}", b'{"a":', b"\xff\xfe{}", b'{"a": NaN}',
    b'{"a": 1e400}', b'{"messages": "x", "a": 123456789012345678901234567890}',
    _deep(100).encode(), ("[" * 100_000 + "]" * 100_000).encode(),
    json.dumps({"messages": "x" * (MAX_BODY + 1)}).encode(),
]


HOSTILE_ORIGINS = ["null", "http://localhost.evil.com", "http://localhost:3000.evil.com",
                   "http://127.0.0.1.evil.com:4111", "https://localhost:3000", "http://evil.com",
                   "http://evil.com#http://localhost:3000", "file://", "http://localhost@evil.com"]


# Routes whose probe is ready before the route is merged.
PENDING: set[str] = set()
# Routes that show their owner data: the attacker's own probe must find her markers
# there (else the probe would prove nothing).
SHOWS_OWNER = {
    "GET /api/memory/threads", "GET /api/memory/threads/{thread_id}",
    "GET /api/memory/threads/{thread_id}/messages",
    "GET /api/memory/threads/{thread_id}/working-memory", "GET /api/memory/search",
    "GET /api/workflows/{workflow_name}/runs", "GET /api/observability/traces",
    "GET /api/observability/traces/{trace_id}",
    "GET /api/observability/traces/{trace_id}/{span_id}/scores",
    "GET /api/observability/traces/light", "POST /api/observability/traces/query",
    "POST /api/observability/metrics/breakdown", "POST /api/observability/metrics/timeseries",
    "GET /api/scores/run/{run_id}", "GET /api/scores/scorer/{scorer_id}",
    "GET /api/scores/entity/{entity_type}/{entity_id}",
}


# A valid value for each path parameter, from a tenant's data.
def path_values(tenant: Tenant) -> dict[str, str]:
    """What each path parameter of the routers names, for ``tenant``."""
    return {"agent_id": AGENT, "thread_id": tenant.thread, "trace_id": tenant.trace,
            "span_id": tenant.span, "run_id": tenant.run, "scorer_id": SCORER,
            "tool_id": "updateWorkingMemory", "workflow_name": f"agent:{AGENT}",
            "entity_type": "AGENT", "entity_id": AGENT, "key": tenant.blob_key,
            "resource_id": tenant.name}


def served_routes() -> set[str]:
    """``METHOD /path/{param}`` of every route the dev server answers, from the routers."""
    from handlers.api import app as api
    from handlers.local import app as local

    found = set()
    for route in [*api._static_routes, *api._dynamic_routes]:
        path = re.sub(r"<([^>]+)>", r"{\1}", route.path)
        found.add(f"{route.method} {path}")
    for route in local.routes:
        methods = getattr(route, "methods", None) or set()
        if "{path:path}" in route.path or route.path == "/":
            continue  # the proxy to the api handler, whose routes are listed above
        path = route.path.replace(":path}", "}")
        found |= {f"{method} {path}" for method in methods - {"HEAD"}}
    return found


__all__ = ["HOSTILE_BODIES", "HOSTILE_ORIGINS", "HOSTILE_QUERY", "HOSTILE_SEGMENTS",
           "MAX_BODY", "PENDING", "PROBES", "SHOWS_OWNER", "Probe", "path_values", "served_routes"]
