"""Spans in Mastra's ``mastra_ai_spans`` (a trigger of Mastra's keeps its created/updated)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from storage.errors import NotFoundError, ValidationError
from storage.postgres import _codec as c
from storage.postgres._base import PostgresDomain
from storage.postgres.driver import Json, Row, Session
from storage.postgres.retention import SpanPruning
from storage.records import SPAN_FIELDS, SPAN_KEY_FIELDS, Page, Span, SpanUpdate, page_of
from storage.validation import check_id, check_ids, check_json, check_paging, check_span

# Span field -> column; JSON columns are read as text.
_TEXT = {
    "trace_id": "traceId",
    "span_id": "spanId",
    "parent_span_id": "parentSpanId",
    "name": "name",
    "span_type": "spanType",
    "entity_type": "entityType",
    "entity_id": "entityId",
    "entity_name": "entityName",
    "resource_id": "resourceId",
    "thread_id": "threadId",
    "run_id": "runId",
}
_JSON = ("input", "output", "error", "attributes", "metadata")

SPAN_COLS = ", ".join(
    [f'"{col}" AS {field}' for field, col in _TEXT.items()]
    + [f"{name}::text AS {name}" for name in _JSON]
    + [c.ms("startedAt", "started_at"), c.ms_nullable("endedAt", "ended_at")]
)

UPSERT_SPANS_SQL = (
    "WITH input AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x("
    + ", ".join(f"{field} text" for field in _TEXT)
    + ", "
    + ", ".join(f"{name} jsonb" for name in _JSON)
    + ", started_at text, ended_at text)) "
    "INSERT INTO mastra_ai_spans ("
    + ", ".join(f'"{col}"' for col in _TEXT.values())
    + ", "
    + ", ".join(_JSON)
    + ', "isEvent", "startedAt", "startedAtZ", "endedAt", "endedAtZ", "createdAt") '
    "SELECT "
    + ", ".join(_TEXT)
    + ", "
    + ", ".join(_JSON)
    + ", false, CAST(started_at AS timestamptz) AT TIME ZONE 'UTC', "
    "CAST(started_at AS timestamptz), CAST(ended_at AS timestamptz) AT TIME ZONE 'UTC', "
    "CAST(ended_at AS timestamptz), now() FROM input "
    'ON CONFLICT ("traceId", "spanId") DO UPDATE SET '
    + ", ".join(f'"{col}" = EXCLUDED."{col}"' for col in _TEXT.values() if col not in
                ("traceId", "spanId"))
    + ", "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in _JSON)
    + ', "startedAt" = EXCLUDED."startedAt", "startedAtZ" = EXCLUDED."startedAtZ", '
    '"endedAt" = EXCLUDED."endedAt", "endedAtZ" = EXCLUDED."endedAtZ"'
)


def _span(row: Row) -> Span:
    values: dict[str, Any] = {field: row[field] for field in _TEXT}
    for name in _JSON:
        values[name] = c.loads(row[name])
    values["attributes"] = values["attributes"] if isinstance(values["attributes"], dict) else {}
    values["metadata"] = values["metadata"] if isinstance(values["metadata"], dict) else {}
    return Span(
        started_at=c.from_ms(row["started_at"]),
        ended_at=c.from_ms_or_none(row["ended_at"]),
        **values,
    )


def _row(span: Span) -> dict[str, Any]:
    row: dict[str, Any] = {field: getattr(span, field) for field in _TEXT}
    for name in _JSON:
        row[name] = getattr(span, name)
    row["started_at"] = c.iso(span.started_at)
    row["ended_at"] = c.iso_or_none(span.ended_at)
    return row


def check_span_record(span: object) -> None:
    """A span this backend can store (the reference backend's rules)."""
    if not isinstance(span, Span):
        raise ValidationError(f"expected a Span, got {type(span).__name__}")
    check_span(span)
    c.time_param(span.started_at, "started_at")
    if span.ended_at is not None:
        c.time_param(span.ended_at, "ended_at")
    for name in ("attributes", "metadata"):
        if not isinstance(getattr(span, name), Mapping):
            raise ValidationError(f"span {name} must be an object")
    for name in ("entity_type", "entity_id", "entity_name", "resource_id", "thread_id",
                 "run_id"):
        value = getattr(span, name)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"span {name} must be a string or None")
        if value is not None:
            check_json(value, f"span {name}")


def _apply(span: Span, update: SpanUpdate) -> Span:
    for name, value in update.fields.items():
        if name in ("started_at", "ended_at") and not (
            isinstance(value, datetime) or (value is None and name == "ended_at")
        ):
            raise ValidationError(f"span {name} must be a datetime")
    try:
        updated = replace(span, **dict(update.fields))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"bad span update for {update.span_id!r}: {exc}") from exc
    check_span_record(updated)
    return updated


class PostgresObservabilityStore(SpanPruning, PostgresDomain):
    """The ``observability`` domain on PostgreSQL."""

    def create_spans(self, spans: Sequence[Span]) -> None:
        """Upsert spans in one statement."""
        batch = list(spans)
        for span in batch:
            check_span_record(span)
        if not batch:
            return
        unique = list({(s.trace_id, s.span_id): s for s in batch}.values())
        self._ready()
        self._driver.execute(UPSERT_SPANS_SQL, {"rows": Json([_row(s) for s in unique])})

    def update_spans(self, updates: Sequence[SpanUpdate]) -> None:
        """Set fields of existing spans, all or nothing, in one transaction.

        Raises:
            NotFoundError: a span does not exist.
            ValidationError: a field is not a :class:`Span` field, or is a key field.
        """
        batch = list(updates)
        for update in batch:
            if not isinstance(update, SpanUpdate):
                raise ValidationError(f"expected a SpanUpdate, got {type(update).__name__}")
            if not isinstance(update.fields, Mapping):
                raise ValidationError("span update fields must be a mapping")
            check_id(update.trace_id, "trace id")
            check_id(update.span_id, "span id")
            for name in update.fields:
                if name not in SPAN_FIELDS:
                    raise ValidationError(f"{name!r} is not a span field")
                if name in SPAN_KEY_FIELDS:
                    raise ValidationError(f"{name!r} is a key field and cannot be updated")
        if not batch:
            return
        keys = [{"t": u.trace_id, "s": u.span_id} for u in batch]
        self._ready()

        def body(tx: Session) -> None:
            rows = tx.fetch(
                f"SELECT {SPAN_COLS} FROM mastra_ai_spans s JOIN jsonb_to_recordset("
                "CAST(:keys AS jsonb)) AS k(t text, s text) "
                'ON s."traceId" = k.t AND s."spanId" = k.s FOR UPDATE OF s',
                {"keys": Json(keys)},
            )
            current = {(r["trace_id"], r["span_id"]): _span(r) for r in rows}
            for update in batch:
                key = (update.trace_id, update.span_id)
                if key not in current:
                    raise NotFoundError(f"span {update.span_id!r} of trace {update.trace_id!r}")
                current[key] = _apply(current[key], update)
            tx.execute(UPSERT_SPANS_SQL, {"rows": Json([_row(s) for s in current.values()])})

        self._driver.transaction(body)

    def get_trace(self, trace_id: str) -> list[Span]:
        """Every span of the trace by ``started_at`` then ``span_id``."""
        check_id(trace_id, "trace id")
        self._ready()
        rows = self._driver.fetch(
            f'SELECT {SPAN_COLS} FROM mastra_ai_spans WHERE "traceId" = :trace_id '
            'ORDER BY "startedAt", "spanId"',
            {"trace_id": trace_id},
        )
        return [_span(r) for r in rows]

    def list_traces(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        resource_id: str | None = None,
        thread_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page: int = 0,
        per_page: int | None = 50,
    ) -> Page[Span]:
        """Root spans, newest first (ties: ``trace_id`` descending), and the total."""
        check_paging(page, per_page)
        where = ['"parentSpanId" IS NULL']
        params: dict[str, Any] = {}
        for field, value in (
            ("entity_type", entity_type),
            ("entity_id", entity_id),
            ("resource_id", resource_id),
            ("thread_id", thread_id),
        ):
            if value is not None:
                where.append(f'"{_TEXT[field]}" = :{field}')
                params[field] = check_id(value, field.replace("_", " "))
        if start is not None:
            where.append(f'"startedAt" >= {c.wall("start")}')
            params["start"] = c.time_param(start, "start")
        if end is not None:
            where.append(f'"startedAt" <= {c.wall("end")}')
            params["end"] = c.time_param(end, "end")
        params["limit"] = per_page
        params["offset"] = page * per_page if per_page is not None else 0
        self._ready()
        rows = self._driver.fetch(
            f'WITH f AS (SELECT {SPAN_COLS}, "startedAt" AS sort_key FROM mastra_ai_spans '
            f"WHERE {' AND '.join(where)}), "
            "p AS (SELECT * FROM f ORDER BY sort_key DESC, trace_id DESC, span_id DESC "
            "LIMIT :limit OFFSET :offset) "
            "SELECT n.total, p.* FROM (SELECT count(*) AS total FROM f) AS n "
            "LEFT JOIN p ON true ORDER BY p.sort_key DESC, p.trace_id DESC, p.span_id DESC",
            params,
        )
        total = int(rows[0]["total"]) if rows else 0
        items = [_span(r) for r in rows if r.get("trace_id") is not None]
        return page_of(items, total=total, page=page, per_page=per_page)

    def delete_traces(self, trace_ids: Sequence[str]) -> None:
        """Delete every span of these traces in one statement."""
        ids = check_ids(trace_ids, "trace id")
        if not ids:
            return
        self._ready()
        self._driver.execute(
            f'DELETE FROM mastra_ai_spans WHERE "traceId" IN {c.in_ids("ids")}',
            {"ids": c.id_list(ids)},
        )
