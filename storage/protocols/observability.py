"""The ``observability`` domain: trace spans.

Part of :mod:`storage.protocols` (the contract; import the names from there)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from storage.records import Page, Span, SpanUpdate


@runtime_checkable
class ObservabilityStore(Protocol):
    """Traces made of spans."""

    def create_spans(self, spans: Sequence[Span]) -> None:
        """Store spans (a span with an existing ``(trace_id, span_id)`` is replaced)."""
        ...

    def update_spans(self, updates: Sequence[SpanUpdate]) -> None:
        """Set fields of existing spans, all or nothing.

        Raises:
            NotFoundError: a span does not exist.
            ValidationError: a field is not a :class:`Span` field, or is a key field.
        """
        ...

    def get_trace(self, trace_id: str) -> list[Span]:
        """Every span of the trace, by ``started_at`` then ``span_id``; ``[]`` if unknown."""
        ...

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
        """Root spans, newest ``started_at`` first (ties: ``trace_id``, ``span_id`` descending)."""
        ...

    def delete_traces(self, trace_ids: Sequence[str]) -> None:
        """Delete every span of these traces."""
        ...
