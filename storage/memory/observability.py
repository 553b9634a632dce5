"""``InMemoryObservabilityStore``: spans keyed by ``(trace_id, span_id)``."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from storage import validation as v
from storage.errors import NotFoundError, ValidationError
from storage.memory._common import check_time, clone, within
from storage.memory.retention import SpanPruning
from storage.paging import has_fields, newest_page
from storage.records import SPAN_FIELDS, SPAN_KEY_FIELDS, Page, Span, SpanUpdate

_TEXT_FIELDS = ("entity_type", "entity_id", "entity_name", "resource_id", "thread_id", "run_id")


def check_span_record(span: object) -> None:
    """A whole span: ids, JSON values, and the types of the typed fields."""
    if not isinstance(span, Span):
        raise ValidationError(f"expected a Span, got {type(span).__name__}")
    v.check_span(span)
    check_time(span.started_at, "started_at")
    if span.started_at is None:
        raise ValidationError("span started_at is required")
    check_time(span.ended_at, "ended_at")
    for name in ("attributes", "metadata"):
        if not isinstance(getattr(span, name), Mapping):
            raise ValidationError(f"span {name} must be an object")
    for name in _TEXT_FIELDS:
        value = getattr(span, name)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"span {name} must be a string or None")
        if value is not None:
            v.check_json(value, f"span {name}")


def check_span_update(update: object) -> None:
    """A span update names its span and only settable :class:`Span` fields."""
    if not isinstance(update, SpanUpdate):
        raise ValidationError(f"expected a SpanUpdate, got {type(update).__name__}")
    v.check_id(update.trace_id, "trace id")
    v.check_id(update.span_id, "span id")
    if not isinstance(update.fields, Mapping):
        raise ValidationError("span update fields must be a mapping")
    for name, value in update.fields.items():
        if name not in SPAN_FIELDS:
            raise ValidationError(f"{name!r} is not a span field")
        if name in SPAN_KEY_FIELDS:
            raise ValidationError(f"{name!r} is a key field and cannot be updated")
        if name in ("started_at", "ended_at") and not (
            isinstance(value, datetime) or (value is None and name == "ended_at")
        ):
            raise ValidationError(f"span {name} must be a datetime")


class InMemoryObservabilityStore(SpanPruning):
    """Traces made of spans, in process memory (see ``ObservabilityStore``)."""

    def __init__(self, *, lock: threading.RLock | None = None) -> None:
        self._lock = lock or threading.RLock()
        self._spans: dict[tuple[str, str], Span] = {}

    def create_spans(self, spans: Sequence[Span]) -> None:
        """Store spans; one with an existing ``(trace_id, span_id)`` replaces it."""
        if isinstance(spans, Span):
            raise ValidationError("create_spans takes a list of spans")
        batch = list(spans)
        for span in batch:
            check_span_record(span)
        with self._lock:
            for span in batch:
                self._spans[(span.trace_id, span.span_id)] = clone(span)

    def update_spans(self, updates: Sequence[SpanUpdate]) -> None:
        """Set fields of existing spans, all or nothing.

        Raises:
            NotFoundError: a span does not exist.
            ValidationError: a field is not a :class:`Span` field, or is a key field.
        """
        if isinstance(updates, SpanUpdate):
            raise ValidationError("update_spans takes a list of SpanUpdate")
        batch = list(updates)
        for update in batch:
            check_span_update(update)
        with self._lock:
            working: dict[tuple[str, str], Span] = {}
            for update in batch:
                key = (update.trace_id, update.span_id)
                current = working.get(key) or self._spans.get(key)
                if current is None:
                    raise NotFoundError(f"span {update.span_id!r} of {update.trace_id!r} not found")
                updated = replace(current, **clone(dict(update.fields)))
                check_span_record(updated)
                working[key] = updated
            self._spans.update(working)

    def get_trace(self, trace_id: str) -> list[Span]:
        """Every span of the trace, by ``started_at`` then ``span_id``; ``[]`` if unknown."""
        v.check_id(trace_id, "trace id")
        with self._lock:
            spans = [s for s in self._spans.values() if s.trace_id == trace_id]
            spans.sort(key=lambda s: (s.started_at, s.span_id))
            return clone(spans)

    def list_traces(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        resource_id: str | None = None,
        thread_id: str | None = None,
        start: Any = None,
        end: Any = None,
        page: int = 0,
        per_page: int | None = 50,
    ) -> Page[Span]:
        """Root spans, newest ``started_at`` first (ties: ``trace_id`` descending)."""
        wanted = {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "resource_id": resource_id,
            "thread_id": thread_id,
        }
        v.check_filters(wanted)
        low = check_time(start, "start")
        high = check_time(end, "end")
        v.check_paging(page, per_page)
        with self._lock:
            roots = [
                s
                for s in self._spans.values()
                if s.is_root
                and has_fields(wanted, partial(getattr, s))
                and within(s.started_at, low, high)
            ]
            return newest_page(
                roots, key=lambda s: (s.started_at, s.trace_id, s.span_id), page=page,
                per_page=per_page, record=clone,
            )

    def delete_traces(self, trace_ids: Sequence[str]) -> None:
        """Delete every span of these traces (unknown ids are ignored)."""
        doomed = set(v.check_ids(trace_ids, "trace id"))
        with self._lock:
            for key in [k for k in self._spans if k[0] in doomed]:
                del self._spans[key]
