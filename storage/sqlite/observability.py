"""``SQLiteObservabilityStore``: spans in ``mastra_ai_spans``; a trace is its spans."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from storage import validation as v
from storage.errors import NotFoundError, ValidationError
from storage.records import SPAN_FIELDS, SPAN_KEY_FIELDS, Page, Span, SpanUpdate, page_of
from storage.sqlite import _rows
from storage.sqlite._codec import iso
from storage.sqlite._sql import bound, chunks, count, limit_clause, marks
from storage.sqlite.db import SQLiteDatabase
from storage.sqlite.retention import SpanPruning
from storage.sqlite.schema import SPANS
from storage.timeutil import utcnow

_INSERT_COLUMNS = [*_rows.SPAN_COLUMNS.values(), "isEvent", "createdAt", "updatedAt"]
_INSERT = (
    f'INSERT INTO "{SPANS}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in _INSERT_COLUMNS)}) '
    f"VALUES ({marks(len(_INSERT_COLUMNS))}) ON CONFLICT(spanId, traceId) DO UPDATE SET "
    + ", ".join(
        f'"{c}" = excluded."{c}"'
        for c in _INSERT_COLUMNS
        if c not in ("traceId", "spanId", "createdAt")
    )
)
_UPDATE = (
    f'UPDATE "{SPANS}" SET '
    + ", ".join(f'"{c}" = ?' for c in _rows.SPAN_COLUMNS.values() if c not in ("traceId", "spanId"))
    + ', "updatedAt" = ? WHERE "traceId" = ? AND "spanId" = ?'
)
_FILTERS = {
    "entity_type": "entityType",
    "entity_id": "entityId",
    "resource_id": "resourceId",
    "thread_id": "threadId",
}


class SQLiteObservabilityStore(SpanPruning):
    """Traces made of spans.

    Args:
        db: the database (shared with the other SQLite domains of the same file).
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db

    def create_spans(self, spans: Sequence[Span]) -> None:
        """Store spans (a span with an existing ``(trace_id, span_id)`` is replaced)."""
        if isinstance(spans, Span):
            raise ValidationError("create_spans takes a list of spans")
        for span in spans:
            if not isinstance(span, Span):
                raise ValidationError("create_spans takes Span objects")
            _check_span(span)
        if not spans:
            return
        now = iso(utcnow())
        with self._db.write("create_spans") as conn:
            conn.executemany(_INSERT, [[*_rows.span_params(s), 0, now, now] for s in spans])

    def update_spans(self, updates: Sequence[SpanUpdate]) -> None:
        """Set fields of existing spans, all or nothing.

        Raises:
            NotFoundError: a span does not exist.
            ValidationError: a field is not a :class:`Span` field, or is a key field.
        """
        if isinstance(updates, SpanUpdate):
            raise ValidationError("update_spans takes a list of SpanUpdate")
        for update in updates:
            if not isinstance(update, SpanUpdate):
                raise ValidationError("update_spans takes SpanUpdate objects")
            v.check_id(update.trace_id, "trace id")
            v.check_id(update.span_id, "span id")
            unknown = sorted(set(update.fields) - SPAN_FIELDS)
            if unknown:
                raise ValidationError(f"{unknown[0]!r} is not a span field")
            keys = sorted(set(update.fields) & SPAN_KEY_FIELDS)
            if keys:
                raise ValidationError(f"{keys[0]!r} identifies a span and cannot be updated")
        if not updates:
            return
        with self._db.write("update_spans") as conn:
            changed: dict[tuple[str, str], Span] = {}
            for update in updates:
                key = (update.trace_id, update.span_id)
                span = changed.get(key) or self._span(conn, *key)
                if span is None:
                    raise NotFoundError(
                        f"span {update.span_id!r} of trace {update.trace_id!r} does not exist"
                    )
                changed[key] = _apply(span, update)
            now = iso(utcnow())
            for (trace_id, span_id), span in changed.items():
                values = _rows.span_params(span)[2:]  # every column but the two keys
                conn.execute(_UPDATE, [*values, now, trace_id, span_id])

    def get_trace(self, trace_id: str) -> list[Span]:
        """Every span of the trace, by ``started_at`` then ``span_id``; ``[]`` if unknown."""
        v.check_id(trace_id, "trace id")
        with self._db.read("get_trace") as conn:
            rows = conn.execute(
                f'SELECT {_rows.SPAN_SELECT} FROM "{SPANS}" WHERE "traceId" = ? '
                'ORDER BY "startedAt", "spanId"',
                (trace_id,),
            ).fetchall()
        return [_rows.span_from_row(r) for r in rows]

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
        """Root spans, newest ``started_at`` first (ties: ``trace_id`` descending)."""
        v.check_paging(page, per_page)
        given = {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "resource_id": resource_id,
            "thread_id": thread_id,
        }
        where = ['"parentSpanId" IS NULL']
        args: list[Any] = []
        for name, value in given.items():
            if value is not None:
                where.append(f'"{_FILTERS[name]}" = ?')
                args.append(v.check_id(value, name.replace("_", " ")))
        if start is not None:
            where.append('"startedAt" >= ?')
            args.append(bound(start, "start"))
        if end is not None:
            where.append('"startedAt" <= ?')
            args.append(bound(end, "end"))
        clause = " AND ".join(where)
        limit, limit_args = limit_clause(page, per_page)
        with self._db.read("list_traces") as conn:
            total = count(conn, f'SELECT COUNT(*) FROM "{SPANS}" WHERE {clause}', args)
            rows = conn.execute(
                f'SELECT {_rows.SPAN_SELECT} FROM "{SPANS}" WHERE {clause} '
                f'ORDER BY "startedAt" DESC, "traceId" DESC, "spanId" DESC{limit}',
                [*args, *limit_args],
            ).fetchall()
        return page_of(
            [_rows.span_from_row(r) for r in rows], total=total, page=page, per_page=per_page
        )

    def delete_traces(self, trace_ids: Sequence[str]) -> None:
        """Delete every span of these traces."""
        ids = list(dict.fromkeys(v.check_ids(trace_ids, "trace id")))
        if not ids:
            return
        with self._db.write("delete_traces") as conn:
            for batch in chunks(ids):
                conn.execute(
                    f'DELETE FROM "{SPANS}" WHERE "traceId" IN ({marks(len(batch))})', batch
                )

    @staticmethod
    def _span(conn: sqlite3.Connection, trace_id: str, span_id: str) -> Span | None:
        row = conn.execute(
            f'SELECT {_rows.SPAN_SELECT} FROM "{SPANS}" WHERE "traceId" = ? AND "spanId" = ?',
            (trace_id, span_id),
        ).fetchone()
        return _rows.span_from_row(row) if row is not None else None


def _apply(span: Span, update: SpanUpdate) -> Span:
    """The span with ``update.fields`` set, validated like a new span."""
    try:
        updated = replace(span, **dict(update.fields))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(f"span update of {update.span_id!r}: {exc}") from exc
    _check_span(updated)
    return updated


def _check_span(span: Span) -> None:
    """The shared checks, plus what the columns need: real datetimes and object maps."""
    if not isinstance(span.started_at, datetime):
        raise ValidationError("span started_at must be a datetime")
    if span.ended_at is not None and not isinstance(span.ended_at, datetime):
        raise ValidationError("span ended_at must be a datetime or None")
    for name in ("attributes", "metadata"):
        if not isinstance(getattr(span, name), dict):
            raise ValidationError(f"span {name} must be an object")
    v.check_span(span)
