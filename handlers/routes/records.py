"""``/api/workflows``, ``/api/observability``, ``/api/scores``: what runs left behind.

Under JWT auth every list is narrowed to the caller's resource and a trace of
another tenant is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from handlers._wiring import get_app
from handlers.bodies import (
    PageQ,
    PerPageQ,
    ResourceIdQ,
    int_value,
    per_page_value,
    time_value,
)
from handlers.errors import HTTPError, not_found
from handlers.routes._common import caller_of, response_budget
from handlers.shapes import page_json, run_json, score_json, span_json
from storage.records import Page, Score

router = Router()  # type: ignore[no-untyped-call]


def _domain(name: str) -> Any:
    store = get_app().storage
    domain = getattr(store, name, None)
    if domain is None:
        raise HTTPError(400, f"storage has no {name} domain")
    return domain


def _time(name: str, raw: str | None) -> datetime | None:
    return time_value(name, raw) if raw else None


def _paging(page: str | None, per_page: str | None,
            default: int | None) -> tuple[int, int | None]:
    return int_value("page", page), per_page_value(per_page, default)


TimeQ = Annotated[str | None, Query(description="ISO timestamp bound")]
TextQ = Annotated[str | None, Query()]


@router.get("/workflows/<workflow_name>/runs", summary="List runs", tags=["Workflows"])
def list_runs(
    workflow_name: str,
    resource_id: ResourceIdQ = None,
    status: TextQ = None,
    from_date: Annotated[str | None, Query(alias="fromDate", description="ISO timestamp")] = None,
    to_date: Annotated[str | None, Query(alias="toDate", description="ISO timestamp")] = None,
    page: PageQ = None,
    per_page: PerPageQ = None,
) -> dict[str, Any]:
    """Runs of a workflow (an agent's runs are ``agent:<id>``), newest first."""
    number, size = _paging(page, per_page, 100)
    result = _domain("workflows").list_runs(
        workflow_name=workflow_name,
        resource_id=caller_of(router).resource(resource_id),
        status=status or None,
        start=_time("fromDate", from_date),
        end=_time("toDate", to_date),
        page=number,
        per_page=size,
    )
    return page_json("runs", result, run_json, response_budget())


@router.get("/observability/traces", summary="List traces", tags=["Observability"])
def list_traces(
    entity_type: Annotated[str | None, Query(alias="entityType")] = None,
    entity_id: Annotated[str | None, Query(alias="entityId")] = None,
    resource_id: ResourceIdQ = None,
    thread_id: Annotated[str | None, Query(alias="threadId")] = None,
    started_at: Annotated[str | None, Query(alias="startedAt", description="ISO lower bound")]
    = None,
    ended_at: Annotated[str | None, Query(alias="endedAt", description="ISO upper bound")]
    = None,
    page: PageQ = None,
    per_page: PerPageQ = None,
) -> dict[str, Any]:
    """Root spans, newest first, filtered by entity, resource, thread and start time."""
    number, size = _paging(page, per_page, 50)
    result = _domain("observability").list_traces(
        entity_type=entity_type or None,
        entity_id=entity_id or None,
        resource_id=caller_of(router).resource(resource_id),
        thread_id=thread_id or None,
        start=_time("startedAt", started_at),
        end=_time("endedAt", ended_at),
        page=number,
        per_page=size,
    )
    return page_json("spans", result, span_json, response_budget())


@router.get("/observability/traces/<trace_id>", summary="Get a trace", tags=["Observability"])
def get_trace(trace_id: str) -> dict[str, Any]:
    """Every span of the trace, by start time."""
    spans = _domain("observability").get_trace(trace_id)
    root = next((s for s in spans if s.is_root), spans[0] if spans else None)
    if root is None or not caller_of(router).owns(root.resource_id):
        raise not_found("Trace")
    return {"traceId": trace_id, "spans": [span_json(s) for s in spans]}


def _scores(page: str | None, per_page: str | None, **filters: Any) -> dict[str, Any]:
    number, size = _paging(page, per_page, 50)
    # Under JWT only the tenant's own scores, filtered by the store so that the page
    # and its total count only those (IAM: resource_id None, every score).
    result: Page[Score] = _domain("scores").list_scores(
        page=number, per_page=size, resource_id=caller_of(router).resource_id, **filters)
    return page_json("scores", result, score_json, response_budget())


@router.get("/scores/run/<run_id>", summary="Scores of a run", tags=["Scores"])
def scores_by_run(run_id: str, page: PageQ = None, per_page: PerPageQ = None) -> dict[str, Any]:
    """Scores written for one run."""
    return _scores(page, per_page, run_id=run_id)


@router.get("/scores/scorer/<scorer_id>", summary="Scores of a scorer", tags=["Scores"])
def scores_by_scorer(
    scorer_id: str,
    entity_id: Annotated[str | None, Query(alias="entityId")] = None,
    entity_type: Annotated[str | None, Query(alias="entityType")] = None,
    page: PageQ = None,
    per_page: PerPageQ = None,
) -> dict[str, Any]:
    """Scores one scorer wrote (``entityId``/``entityType`` narrow them)."""
    return _scores(page, per_page, scorer_id=scorer_id, entity_id=entity_id or None,
                   entity_type=entity_type or None)


@router.get("/scores/entity/<entity_type>/<entity_id>", summary="Scores of an entity",
            tags=["Scores"])
def scores_by_entity(entity_type: str, entity_id: str, page: PageQ = None,
                     per_page: PerPageQ = None) -> dict[str, Any]:
    """Scores of one entity (an agent: ``AGENT``/``<id>``)."""
    return _scores(page, per_page, entity_type=entity_type, entity_id=entity_id)
