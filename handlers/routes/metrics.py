"""``/api/observability/metrics/*``: Mastra's metrics, computed from our recorded runs.

Mastra's observability stores emit metric samples as runs happen; Stowage derives
the same samples from the spans it already keeps, when asked:

- ``mastra_agent_duration_ms``: one sample per run (root span), its duration;
  labels ``entityName``/``entityId``/``entityType``, ``status`` (ok/error),
  ``threadId``, ``resourceId``, ``traceId``, ``runId``, ``model``.
- ``mastra_model_total_input_tokens``, ``..._output_tokens``, ``mastra_model_total_tokens``:
  one per run, its token usage; the same labels.
- ``mastra_tool_duration_ms``: one per tool call span, its duration; the run's
  labels with ``entityName`` = the tool.

Other metric names have no samples (an empty answer, as Mastra gives for a metric
nothing emitted). A request reads the window's root spans once (one ``list_traces``
call); only tool metrics read each run's spans too (one ``get_trace`` per run, at
most :data:`MAX_TOOL_TRACES`). Aggregations: ``sum``, ``count``, ``avg``, ``min``,
``max``, ``last``, ``count_distinct`` (with ``distinctColumn``); percentiles are
linear between the closest ranks (DuckDB's ``quantile_cont``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from handlers.errors import HTTPError
from handlers.routes._common import caller_of
from handlers.routes._traces import (
    body_of,
    default_window,
    duration_ms,
    earlier,
    observability,
    runs,
    time_range,
)
from storage.records import Span
from storage.timeutil import to_iso

router = Router()  # type: ignore[no-untyped-call]

MAX_TOOL_TRACES = 500
MAX_NAMES = 20
AGGREGATIONS = ("sum", "count", "avg", "min", "max", "last", "count_distinct")
INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "12h": 43200,
             "1d": 86400, "1w": 604800}
COMPARE = {"previous_period": None, "previous_day": timedelta(days=1),
           "previous_week": timedelta(weeks=1)}
TOKEN_METRICS = {"mastra_model_total_input_tokens": "inputTokens",
                 "mastra_model_total_output_tokens": "outputTokens",
                 "mastra_model_total_tokens": "totalTokens"}
# Filters naming a list of ids filter the singular label.
_PLURAL = {"traceIds": "traceId", "spanIds": "spanId", "runIds": "runId",
           "threadIds": "threadId", "resourceIds": "resourceId", "entityNames": "entityName"}


@dataclass(frozen=True)
class Sample:
    """One metric sample: a value at a time, with labels."""

    name: str
    at: datetime
    value: float
    labels: Mapping[str, Any]


def _run_labels(span: Span) -> dict[str, Any]:
    return {"entityName": span.entity_name, "entityId": span.entity_id,
            "entityType": span.entity_type, "status": "error" if span.error else "ok",
            "threadId": span.thread_id, "resourceId": span.resource_id,
            "traceId": span.trace_id, "runId": span.run_id,
            "model": (span.attributes or {}).get("model")}


def samples(names: set[str], roots: list[Span]) -> list[Sample]:
    """The samples of ``names`` the runs ``roots`` produced."""
    out: list[Sample] = []
    for root in roots:
        if root.ended_at is None:
            continue
        labels = _run_labels(root)
        if "mastra_agent_duration_ms" in names and root.entity_type == "agent":
            out.append(Sample("mastra_agent_duration_ms", root.started_at,
                              duration_ms(root) or 0.0, labels))
        usage = (root.attributes or {}).get("usage")
        for name, key in TOKEN_METRICS.items():
            if name in names and isinstance(usage, Mapping) and isinstance(usage.get(key), int):
                out.append(Sample(name, root.started_at, float(usage[key]), labels))
    if "mastra_tool_duration_ms" in names:
        store = observability()
        for root in roots[:MAX_TOOL_TRACES]:
            for span in store.get_trace(root.trace_id):
                if span.span_type == "tool_call" and span.ended_at is not None:
                    tool = span.name.removeprefix("tool: ").strip("'")
                    labels = {**_run_labels(root), "entityName": tool, "entityType": "tool",
                              "entityId": tool, "status": "error" if span.error else "ok"}
                    out.append(Sample("mastra_tool_duration_ms", span.started_at,
                                      duration_ms(span) or 0.0, labels))
    return out


# --- request parsing -----------------------------------------------------------


def _names(raw: Any) -> list[str]:
    names = [raw] if isinstance(raw, str) else raw
    if (not isinstance(names, list) or not names or len(names) > MAX_NAMES
            or not all(isinstance(n, str) and n for n in names)):
        raise HTTPError(400, f"name must be a metric name or a list of 1 to {MAX_NAMES}")
    return names


def _matcher(filters: Any) -> tuple[datetime, datetime, Callable[[Sample], bool]]:
    """The window and the label filter of ``filters``."""
    if filters is None:
        filters = {}
    if not isinstance(filters, Mapping):
        raise HTTPError(400, "filters must be an object")
    start, end = time_range(filters.get("timestamp"), "filters.timestamp")
    default_start, default_end = default_window()
    start, end = start or (earlier(end, timedelta(days=1)) if end else default_start), \
        end or default_end
    if start > end:
        raise HTTPError(400, "filters.timestamp starts after it ends")
    wanted: dict[str, set[Any]] = {}
    for key, value in filters.items():
        if key == "timestamp":
            continue
        label = _PLURAL.get(str(key), str(key))
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            wanted[label] = set(value)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            wanted[label] = {value}
        else:
            raise HTTPError(400, f"filters.{key} must be a string, a number or a list of them")

    def match(sample: Sample) -> bool:
        return all(sample.labels.get(k) in v for k, v in wanted.items())

    return start, end, match


def _group_by(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(g, str) and g for g in raw) or len(
            raw) > 5:
        raise HTTPError(400, "groupBy must be a list of at most 5 label names")
    return list(raw)


def _aggregation(body: Mapping[str, Any], default: str = "sum") -> str:
    aggregation = body.get("aggregation", default)
    if not isinstance(aggregation, str) or aggregation not in AGGREGATIONS:
        raise HTTPError(400, f"aggregation must be one of {', '.join(AGGREGATIONS)}")
    if aggregation == "count_distinct" and not isinstance(body.get("distinctColumn"), str):
        raise HTTPError(400, "aggregation count_distinct needs distinctColumn")
    return str(aggregation)


def _interval(raw: Any) -> int:
    if not isinstance(raw, str) or raw not in INTERVALS:
        raise HTTPError(400, f"interval must be one of {', '.join(INTERVALS)}")
    return INTERVALS[raw]


def _limit(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 1000:
        raise HTTPError(400, "limit must be an integer from 1 to 1000")
    return raw


# --- arithmetic ----------------------------------------------------------------


def aggregate(values: list[Sample], aggregation: str, distinct: str | None = None) -> float | None:
    """One number for ``values`` (``count`` of nothing is 0, anything else ``None``)."""
    if aggregation == "count":
        return float(len(values))
    if aggregation == "count_distinct":
        return float(len({s.labels.get(distinct or "") for s in values
                          if s.labels.get(distinct or "") is not None}))
    if not values:
        return None
    numbers = [s.value for s in values]
    if aggregation == "sum":
        return math.fsum(numbers)
    if aggregation == "avg":
        return math.fsum(numbers) / len(numbers)
    if aggregation == "min":
        return min(numbers)
    if aggregation == "max":
        return max(numbers)
    return max(values, key=lambda s: s.at).value  # last


def percentile(values: list[float], p: float) -> float:
    """The ``p`` quantile (0..1), linear between the closest ranks."""
    ordered = sorted(values)
    rank = p * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _bucket(at: datetime, seconds: int) -> datetime:
    epoch = int(at.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(epoch, UTC)


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _select(body: Mapping[str, Any], extra_before: timedelta = timedelta(0)) -> tuple[
        list[str], datetime, datetime, list[Sample]]:
    """The request's metric names, window and matching samples (window widened back by
    ``extra_before`` for a comparison period)."""
    names = _names(body.get("name"))
    start, end, match = _matcher(body.get("filters"))
    roots = runs(caller_of(router), earlier(start, extra_before), end)
    found = [s for s in samples(set(names), roots) if s.name in names and match(s)]
    return names, start, end, found


def _within(found: Iterable[Sample], start: datetime, end: datetime) -> list[Sample]:
    return [s for s in found if start <= s.at <= end]


# --- routes --------------------------------------------------------------------


def _priced(value: float | None) -> dict[str, Any]:
    return {"value": _number(value), "estimatedCost": None, "costUnit": None}


@router.post("/observability/metrics/aggregate", summary="Aggregate a metric",
             tags=["Observability"])
def metric_aggregate() -> dict[str, Any]:
    """One value over the window, and over the previous period when ``comparePeriod`` asks."""
    body = body_of(router)
    aggregation = _aggregation(body)
    compare = body.get("comparePeriod")
    if compare is not None and (not isinstance(compare, str) or compare not in COMPARE):
        raise HTTPError(400, f"comparePeriod must be one of {', '.join(COMPARE)}")
    start, end, _ = _matcher(body.get("filters"))
    shift = (COMPARE[compare] or (end - start)) if compare else timedelta(0)
    _, start, end, found = _select(body, shift)
    distinct = body.get("distinctColumn")
    current = aggregate(_within(found, start, end), aggregation, distinct)
    out: dict[str, Any] = {**_priced(current), "previousValue": None,
                           "previousEstimatedCost": None, "changePercent": None,
                           "costChangePercent": None}
    if compare:
        previous = aggregate(_within(found, earlier(start, shift), earlier(end, shift)),
                             aggregation, distinct)
        out["previousValue"] = _number(previous)
        if previous and current is not None:
            out["changePercent"] = _number((current - previous) / previous * 100)
    return out


@router.post("/observability/metrics/breakdown", summary="A metric by label",
             tags=["Observability"])
def metric_breakdown() -> dict[str, Any]:
    """The metric aggregated per combination of the ``groupBy`` labels."""
    body = body_of(router)
    aggregation = _aggregation(body)
    group_by = _group_by(body.get("groupBy"))
    if not group_by:
        raise HTTPError(400, "groupBy must name at least one label")
    limit = _limit(body.get("limit"))
    direction = body.get("orderDirection", "DESC")
    if not isinstance(direction, str) or direction not in ("ASC", "DESC"):
        raise HTTPError(400, "orderDirection must be ASC or DESC")
    _, start, end, found = _select(body)
    groups: dict[tuple[Any, ...], list[Sample]] = {}
    for sample in _within(found, start, end):
        groups.setdefault(tuple(sample.labels.get(g) for g in group_by), []).append(sample)
    rows = [{"dimensions": dict(zip(group_by, key, strict=True)),
             **_priced(aggregate(values, aggregation, body.get("distinctColumn")))}
            for key, values in groups.items()]
    rows.sort(key=lambda r: (r["value"] is None, r["value"] or 0), reverse=direction == "DESC")
    return {"groups": rows[:limit] if limit else rows}


@router.post("/observability/metrics/timeseries", summary="A metric over time",
             tags=["Observability"])
def metric_timeseries() -> dict[str, Any]:
    """The metric aggregated per ``interval`` bucket (one series per name, or per group)."""
    body = body_of(router)
    aggregation = _aggregation(body)
    seconds = _interval(body.get("interval", "1h"))
    group_by = _group_by(body.get("groupBy"))
    names, start, end, found = _select(body)
    series: dict[str, dict[datetime, list[Sample]]] = {}
    for name in ([] if group_by else names):
        series[name] = {}
    for sample in _within(found, start, end):
        key = ", ".join(str(sample.labels.get(g)) for g in group_by) if group_by else sample.name
        series.setdefault(key, {}).setdefault(_bucket(sample.at, seconds), []).append(sample)
    return {"series": [
        {"name": key, "costUnit": None, "points": [
            {"timestamp": to_iso(at), "value": _number(aggregate(values, aggregation,
                                                                  body.get("distinctColumn"))),
             "estimatedCost": None}
            for at, values in sorted(buckets.items())]}
        for key, buckets in series.items()]}


@router.post("/observability/metrics/percentiles", summary="Percentiles of a metric over time",
             tags=["Observability"])
def metric_percentiles() -> dict[str, Any]:
    """The given percentiles of the metric per ``interval`` bucket."""
    body = body_of(router)
    wanted = body.get("percentiles", [0.5, 0.95])
    if (not isinstance(wanted, list) or not wanted or len(wanted) > 10 or not all(
            isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 1
            for p in wanted)):
        raise HTTPError(400, "percentiles must be a list of 1 to 10 numbers from 0 to 1")
    seconds = _interval(body.get("interval", "1h"))
    _, start, end, found = _select(body)
    buckets: dict[datetime, list[float]] = {}
    for sample in _within(found, start, end):
        buckets.setdefault(_bucket(sample.at, seconds), []).append(sample.value)
    return {"series": [
        {"percentile": p, "points": [{"timestamp": to_iso(at), "value": _number(percentile(v, p))}
                                     for at, v in sorted(buckets.items())]}
        for p in wanted]}


@router.get("/observability/discovery/metric-names", summary="Metric names",
            tags=["Observability"])
def metric_names() -> dict[str, Any]:
    """The metrics this server derives from its spans."""
    return {"names": ["mastra_agent_duration_ms", *TOKEN_METRICS, "mastra_tool_duration_ms"]}


__all__ = ["AGGREGATIONS", "Sample", "aggregate", "percentile", "router", "samples"]
