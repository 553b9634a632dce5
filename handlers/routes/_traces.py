"""What the Studio routes share: request bodies, time windows, the runs in a window.

A *run* is a root span (``agent_run``) as stored by :mod:`agents.recording`; the
traces list, the discovery routes and the metrics all start from the root spans of
a time window, read with one ``list_traces`` call (an index Query on DynamoDB, one
SQL statement elsewhere), narrowed to the caller's resource under JWT auth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from handlers import json_input
from handlers._wiring import get_app
from handlers.auth import Caller
from handlers.errors import HTTPError
from storage.records import Span
from storage.timeutil import from_iso, to_iso, utcnow

# A window reads at most this many runs: Studio's pages cover hours to days, and a
# bigger window is cut to its newest runs rather than read whole.
MAX_RUNS = 5000
PREVIEW_CHARS = 100


def observability() -> Any:
    """The app's observability domain.

    Raises:
        HTTPError: 501 when the storage has none (Mastra's answer).
    """
    domain = getattr(get_app().storage, "observability", None)
    if domain is None:
        raise HTTPError(501, "Observability storage domain is not available")
    return domain


def body_of(router: Any) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty).

    Raises:
        HTTPError: 400 when it is not a JSON object (or is nested too deep).
    """
    raw = router.current_event.body
    if not raw:
        return {}
    value = json_input.parse(raw)  # the one parser and nesting limit of every body
    if not isinstance(value, dict):
        raise HTTPError(400, "request body must be a JSON object")
    return value


def timestamp(name: str, raw: Any) -> datetime:
    """An ISO timestamp field.

    Raises:
        HTTPError: 400 naming the field.
    """
    if not isinstance(raw, str):
        raise HTTPError(400, f"{name} must be an ISO timestamp")
    try:
        return from_iso(raw)
    except (TypeError, ValueError):
        raise HTTPError(400, f"{name} must be an ISO timestamp") from None


def time_range(raw: Any, name: str = "timeRange") -> tuple[datetime | None, datetime | None]:
    """``{from, to}`` (trace queries) or ``{start, end}`` (metrics, logs); either may be absent.

    Raises:
        HTTPError: 400 for a value that is not an object of ISO timestamps, or from > to.
    """
    if raw is None:
        return None, None
    if not isinstance(raw, Mapping):
        raise HTTPError(400, f"{name} must be an object")
    start_raw = raw.get("from", raw.get("start"))
    end_raw = raw.get("to", raw.get("end"))
    start = timestamp(f"{name}.from", start_raw) if start_raw is not None else None
    end = timestamp(f"{name}.to", end_raw) if end_raw is not None else None
    if start is not None and end is not None and start > end:
        raise HTTPError(400, f"{name} starts after it ends")
    return start, end


def runs(caller: Caller, start: datetime | None, end: datetime | None) -> list[Span]:
    """The root spans started in ``[start, end]``, newest first (the caller's own under JWT)."""
    page = observability().list_traces(
        resource_id=caller.resource_id, start=start, end=end, page=0, per_page=MAX_RUNS)
    return list(page.items)


def status(span: Span) -> str:
    """``success``, ``error`` or ``running`` (not ended)."""
    if span.error:
        return "error"
    return "success" if span.ended_at is not None else "running"


def duration_ms(span: Span) -> float | None:
    """How long the span took, in milliseconds (``None`` while running)."""
    if span.ended_at is None:
        return None
    return (span.ended_at - span.started_at) / timedelta(milliseconds=1)


def preview(value: Any) -> str | None:
    """The first characters of a span's input, as Mastra's ``inputPreview``."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def trace_row(span: Span) -> dict[str, Any]:
    """A root span as a row of ``POST /observability/traces/query``."""
    return {
        "traceId": span.trace_id,
        "rootSpanId": span.span_id,
        "name": span.name,
        "entityId": span.entity_id,
        "parentSpanId": None,
        "createdAt": to_iso(span.started_at),
        "metadata": span.metadata or None,
        "inputPreview": preview(span.input),
        "threadId": span.thread_id,
        "resourceId": span.resource_id,
        "startedAt": to_iso(span.started_at),
        "endedAt": to_iso(span.ended_at) if span.ended_at else None,
        "entityName": span.entity_name,
        "entityType": span.entity_type,
        "environment": None,
        "status": status(span),
    }


def light_span(span: Span) -> dict[str, Any]:
    """A root span as ``GET /observability/traces/light`` lists it (no input/output)."""
    return {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "spanType": span.span_type,
        "parentSpanId": span.parent_span_id,
        "isEvent": False,
        "startedAt": to_iso(span.started_at),
        "endedAt": to_iso(span.ended_at) if span.ended_at else None,
        "entityType": span.entity_type,
        "entityId": span.entity_id,
        "entityName": span.entity_name,
        "error": span.error,
        "createdAt": to_iso(span.started_at),
        "updatedAt": to_iso(span.ended_at) if span.ended_at else None,
        "status": status(span),
        "metadata": span.metadata or None,
        "inputPreview": preview(span.input),
    }


EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def earlier(at: datetime, delta: timedelta) -> datetime:
    """``at - delta``, held within the years a datetime can hold.

    Windows are moved back by caller-chosen spans (a comparison period as long as the
    window, a day before an end in year 1): past year 1 or 9999 the arithmetic would
    raise ``OverflowError`` (a 500); a window that starts before year 1 holds the same
    runs as one that starts at it.
    """
    try:
        return at - delta
    except OverflowError:
        return EARLIEST if delta > timedelta(0) else LATEST


def default_window(days: int = 1) -> tuple[datetime, datetime]:
    """The last ``days`` days, ending now."""
    now = utcnow()
    return now - timedelta(days=days), now


__all__ = [
    "MAX_RUNS",
    "body_of",
    "default_window",
    "duration_ms",
    "earlier",
    "light_span",
    "observability",
    "preview",
    "runs",
    "status",
    "time_range",
    "timestamp",
    "trace_row",
]
