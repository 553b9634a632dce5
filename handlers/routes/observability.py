"""``/api/observability`` for Mastra Studio: trace queries, discovery, light traces, logs.

Shapes are ``@mastra/server``'s (its trace query, discovery and list schemas); the
data is our recorded runs (:mod:`handlers.routes._traces`). Under JWT auth every
answer is narrowed to the caller's resource. Stowage keeps no log records and no
feedback: those lists are Mastra's empty, well-formed answers.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from handlers._wiring import get_app
from handlers.bodies import PageQ, PerPageQ, int_value, per_page_value
from handlers.errors import HTTPError
from handlers.routes import _predicates
from handlers.routes._common import caller_of
from handlers.routes._traces import (
    body_of,
    light_span,
    observability,
    runs,
    time_range,
    trace_row,
)
from handlers.shapes import score_json
from storage.records import Span
from storage.timeutil import from_iso, to_iso

router = Router()  # type: ignore[no-untyped-call]

MAX_LIMIT = 100
_ORDER_FIELDS = {"startedAt": "started_at", "endedAt": "ended_at"}
_STRING = ["eq", "ne", "in", "notIn", "exists", "notExists"]
_ORDERED = [*_STRING, "lt", "lte", "gt", "gte"]
CANONICAL_FIELDS = [
    {"path": "traceId", "valueKind": "string", "operators": _STRING, "valueSuggestions": False},
    {"path": "threadId", "valueKind": "string", "operators": _STRING, "valueSuggestions": False},
    {"path": "resourceId", "valueKind": "string", "operators": _STRING,
     "valueSuggestions": False},
    {"path": "startedAt", "valueKind": "timestamp", "operators": _ORDERED,
     "valueSuggestions": False},
    {"path": "endedAt", "valueKind": "timestamp", "operators": _ORDERED,
     "valueSuggestions": False},
    {"path": "durationMs", "valueKind": "number", "operators": _ORDERED,
     "valueSuggestions": False},
    {"path": "entityName", "valueKind": "string", "operators": _STRING, "valueSuggestions": True},
    {"path": "entityType", "valueKind": "string", "operators": _STRING, "valueSuggestions": True},
    {"path": "environment", "valueKind": "string", "operators": _STRING,
     "valueSuggestions": True},
    {"path": "status", "valueKind": "string", "operators": _STRING, "valueSuggestions": True},
    {"path": "tags", "valueKind": "array", "operators": ["includes", "notIncludes", "exists",
                                                         "notExists"], "valueSuggestions": True},
]
_QUERY_KEYS = {"timeRange", "where", "orderBy", "page", "pagination", "mode", "after", "limit",
               "group"}


def _completed(caller: Any, body: dict[str, Any]) -> list[Span]:
    """Completed runs of the window that match ``where``."""
    start, end = time_range(body.get("timeRange"))
    where = body.get("where")
    matcher = _predicates.compile_predicate(where) if where is not None else None
    found = [s for s in runs(caller, start, end) if s.ended_at is not None]
    return [s for s in found if matcher is None or matcher(trace_row(s))]


def _sorted(spans: list[Span], order_by: Any) -> list[Span]:
    if order_by is None:
        order_by = [{"field": "startedAt", "direction": "desc"}]
    if not isinstance(order_by, list) or len(order_by) != 1 or not isinstance(order_by[0], dict):
        raise HTTPError(400, "orderBy must be a list of one {field, direction}")
    field, direction = order_by[0].get("field"), order_by[0].get("direction")
    if (not isinstance(field, str) or field not in _ORDER_FIELDS
            or not isinstance(direction, str) or direction not in ("asc", "desc")):
        raise HTTPError(400, "orderBy: field must be startedAt or endedAt, direction asc or desc")
    attr = _ORDER_FIELDS[field]
    return sorted(spans, key=lambda s: (getattr(s, attr), s.trace_id, s.span_id),
                  reverse=direction == "desc")


def _limit(raw: Any, name: str, default: int = 25) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_LIMIT:
        raise HTTPError(400, f"{name} must be an integer from 1 to {MAX_LIMIT}")
    return raw


def _cursor(raw: Any) -> int:
    """The offset an opaque ``page.after`` cursor carries."""
    if raw is None:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(str(raw).encode("ascii")).decode("ascii"))
    except (binascii.Error, ValueError, UnicodeError):
        raise HTTPError(400, "page.after is not a cursor this server issued") from None
    if offset < 0:
        raise HTTPError(400, "page.after is not a cursor this server issued")
    return offset


def _next_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode("ascii")).decode("ascii")


@router.post("/observability/traces/query", summary="Query traces", tags=["Observability"])
def query_traces() -> dict[str, Any]:
    """Completed runs in ``timeRange`` matching ``where``, by ``orderBy``, a cursor page.

    Also ``pagination: {page, perPage}`` (page numbers) and ``mode: "delta"`` with
    ``after`` (runs that ended since the cursor), as Mastra's schema allows.
    """
    body = body_of(router)
    unknown = set(body) - _QUERY_KEYS
    if unknown:
        raise HTTPError(400, f"unknown field {sorted(unknown)[0]}")
    if "timeRange" not in body:
        raise HTTPError(400, "timeRange is required")
    if body.get("group") is not None:
        raise HTTPError(400, "group is not supported: query threads per trace instead")
    caller = caller_of(router)
    if body.get("mode") == "delta":
        return _delta(caller, body)
    if body.get("mode") is not None:
        raise HTTPError(400, "mode must be delta")
    found = _sorted(_completed(caller, body), body.get("orderBy"))
    if body.get("pagination") is not None:
        paging = body["pagination"]
        if not isinstance(paging, dict):
            raise HTTPError(400, "pagination must be an object {page, perPage}")
        number = int_value("pagination.page", _text(paging.get("page")))
        size = _limit(paging.get("perPage"), "pagination.perPage")
        chunk = found[number * size:(number + 1) * size]
        return {"traces": [trace_row(s) for s in chunk], "pagination": {
            "total": len(found), "page": number, "perPage": size,
            "hasMore": (number + 1) * size < len(found)}}
    page = body.get("page") or {}
    if not isinstance(page, dict):
        raise HTTPError(400, "page must be an object {limit, after}")
    limit = _limit(page.get("limit"), "page.limit")
    offset = _cursor(page.get("after"))
    chunk = found[offset:offset + limit]
    more = offset + limit < len(found)
    return {"traces": [trace_row(s) for s in chunk],
            "page": {"next": _next_cursor(offset + limit) if more else None}}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _delta(caller: Any, body: dict[str, Any]) -> dict[str, Any]:
    limit = _limit(body.get("limit"), "limit")
    after = body.get("after")
    since: datetime | None = None
    if after:
        try:
            since = from_iso(str(after))
        except ValueError:
            raise HTTPError(400, "after is not a cursor this server issued") from None
    fresh = [s for s in _completed(caller, body)
             if since is None or (s.ended_at is not None and s.ended_at > since)]
    fresh.sort(key=lambda s: (s.ended_at, s.trace_id))
    chunk = fresh[:limit]
    cursor = to_iso(chunk[-1].ended_at) if chunk and chunk[-1].ended_at else (after or "0")
    return {"traces": [trace_row(s) for s in chunk],
            "delta": {"limit": limit, "hasMore": len(fresh) > limit}, "deltaCursor": cursor}


@router.post("/observability/traces/query/fields", summary="Discover trace query fields",
             tags=["Observability"])
def query_fields() -> dict[str, Any]:
    """Mastra's canonical trace fields and the metadata keys observed in the window."""
    body = body_of(router)
    start, end = time_range(body.get("timeRange"))
    limit = _limit(body.get("limit"), "limit", default=25)
    scope = body.get("predicateScope", "trace")
    if not isinstance(scope, str) or scope not in ("trace", "spans", "scores", "feedback"):
        raise HTTPError(400, "predicateScope must be trace, spans, scores or feedback")
    counts: dict[str, int] = {}
    if scope == "trace":
        for span in runs(caller_of(router), start, end):
            for key, value in (span.metadata or {}).items():
                if isinstance(value, str):
                    counts[f"metadata.{key}"] = counts.get(f"metadata.{key}", 0) + 1
    observed = [{"path": path, "valueKind": "string", "operators": _STRING,
                 "valueSuggestions": True, "occurrences": n}
                for path, n in sorted(counts.items())[:limit]]
    return {"canonicalFields": CANONICAL_FIELDS if scope == "trace" else [],
            "observedFields": observed, "observedFieldsTruncated": len(counts) > limit}


@router.get("/observability/traces/light", summary="Runs, without their payloads",
            tags=["Observability"])
def light_traces(
    thread_id: Annotated[str | None, Query(alias="threadId")] = None,
    entity_id: Annotated[str | None, Query(alias="entityId")] = None,
    entity_type: Annotated[str | None, Query(alias="entityType")] = None,
    page: PageQ = None,
    per_page: PerPageQ = None,
) -> dict[str, Any]:
    """Root spans (of a thread, or an entity), newest first, without input and output."""
    number, size = int_value("page", page), per_page_value(per_page, 25)
    caller = caller_of(router)
    result = observability().list_traces(
        resource_id=caller.resource_id, thread_id=thread_id or None,
        entity_id=entity_id or None, entity_type=entity_type or None,
        page=number, per_page=size)
    spans = list(result.items)
    newest = max((s.ended_at or s.started_at for s in spans), default=None)
    return {"pagination": {"total": result.total, "page": number,
                           "perPage": size if size is not None else False,
                           "hasMore": result.has_more},
            "spans": [light_span(s) for s in spans],
            "deltaCursor": to_iso(newest) if newest else "0"}


@router.get("/observability/traces/<trace_id>/<span_id>/scores", summary="Scores of a span",
            tags=["Observability"])
def span_scores(trace_id: str, span_id: str, page: PageQ = None,
                per_page: PerPageQ = None) -> dict[str, Any]:
    """Scores written for one span of a trace (the run's root span, for our scorers)."""
    number, size = int_value("page", page), per_page_value(per_page, 10)
    scores = getattr(get_app().storage, "scores", None)
    if scores is None:
        return {"scores": [], "pagination": {"total": 0, "page": number,
                                             "perPage": size if size is not None else False,
                                             "hasMore": False}}
    result = scores.list_scores(trace_id=trace_id, span_id=span_id, page=number, per_page=size,
                                resource_id=caller_of(router).resource_id)
    return {"scores": [score_json(s) for s in result.items],
            "pagination": {"total": result.total, "page": number,
                           "perPage": size if size is not None else False,
                           "hasMore": result.has_more}}


def _distinct(caller: Any, attr: str, entity_type: str | None = None) -> list[str]:
    spans = runs(caller, None, None)
    return sorted({getattr(s, attr) for s in spans
                   if getattr(s, attr) and (entity_type is None or s.entity_type == entity_type)})


@router.get("/observability/discovery/entity-names", summary="Entity names",
            tags=["Observability"])
def entity_names(
    entity_type: Annotated[str | None, Query(alias="entityType")] = None,
) -> dict[str, Any]:
    """Distinct names of what ran (agents), optionally of one entity type."""
    return {"names": _distinct(caller_of(router), "entity_name", entity_type or None)}


@router.get("/observability/discovery/entity-types", summary="Entity types",
            tags=["Observability"])
def entity_types() -> dict[str, Any]:
    """Distinct entity types of the recorded runs."""
    return {"entityTypes": _distinct(caller_of(router), "entity_type")}


@router.get("/observability/discovery/service-names", summary="Service names",
            tags=["Observability"])
def service_names() -> dict[str, Any]:
    """One service: this one (spans carry no service name of their own)."""
    return {"serviceNames": ["stowage"]}


@router.get("/observability/discovery/environments", summary="Environments",
            tags=["Observability"])
def environments() -> dict[str, Any]:
    """None recorded: spans carry no environment."""
    return {"environments": []}


@router.get("/observability/discovery/tags", summary="Tags", tags=["Observability"])
def tags() -> dict[str, Any]:
    """None recorded: spans carry no tags."""
    return {"tags": []}


def _empty_list(key: str, page: str | None, per_page: str | None,
                default: int) -> dict[str, Any]:
    number, size = int_value("page", page), per_page_value(per_page, default)
    return {"pagination": {"total": 0, "page": number,
                           "perPage": size if size is not None else False, "hasMore": False},
            key: [], "deltaCursor": "0"}


@router.get("/observability/logs", summary="Logs (none stored)", tags=["Observability"])
def logs(page: PageQ = None, per_page: PerPageQ = None) -> dict[str, Any]:
    """Stowage stores no log records (they go to CloudWatch on AWS): an empty page."""
    return _empty_list("logs", page, per_page, 20)


@router.get("/observability/feedback", summary="Feedback (none stored)", tags=["Observability"])
def feedback(page: PageQ = None, per_page: PerPageQ = None) -> dict[str, Any]:
    """Stowage has no feedback: an empty page."""
    return _empty_list("feedback", page, per_page, 10)


__all__ = ["CANONICAL_FIELDS", "router"]
