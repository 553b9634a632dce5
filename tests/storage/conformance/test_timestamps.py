"""Timestamps round-trip as UTC, with millisecond precision."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from storage import Resource
from tests.storage.conformance.helpers import (
    domain,
    make_message,
    make_score,
    make_span,
    make_thread,
    uid,
)

MICROS = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
EXPECTED = datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def _is_utc(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


def test_thread_and_message_times_keep_milliseconds(store: Any) -> None:
    memory = domain(store, "memory")
    # Given microseconds (and a non-UTC zone) in
    thread = replace(make_thread(), created_at=MICROS, updated_at=MICROS.astimezone(PLUS_TWO))
    memory.save_thread(thread)
    message = replace(make_message(thread.id), created_at=MICROS.astimezone(PLUS_TWO))
    memory.save_messages([message])
    # Then milliseconds in UTC out
    stored = memory.get_thread(thread.id)
    assert stored.created_at == EXPECTED
    assert _is_utc(stored.created_at) and _is_utc(stored.updated_at)
    got = memory.get_messages([message.id])[0]
    assert got.created_at == EXPECTED
    assert got.created_at.microsecond == 123000
    assert _is_utc(got.created_at)


def test_resource_times_are_utc(store: Any) -> None:
    memory = domain(store, "memory")
    resource = memory.update_resource(uid("res"), working_memory="x")
    stored = memory.get_resource(resource.id)
    assert isinstance(stored, Resource)
    assert _is_utc(stored.created_at) and _is_utc(stored.updated_at)
    assert stored.created_at.microsecond % 1000 == 0


def test_span_and_score_times_keep_milliseconds(store: Any) -> None:
    observability = domain(store, "observability")
    span = replace(make_span(uid("trace"), ended_at=MICROS.astimezone(PLUS_TWO)),
                   started_at=MICROS)
    observability.create_spans([span])
    [stored] = observability.get_trace(span.trace_id)
    assert (stored.started_at, stored.ended_at) == (EXPECTED, EXPECTED)
    assert _is_utc(stored.started_at) and _is_utc(stored.ended_at)

    scores = domain(store, "scores")
    score = scores.save_score(make_score(created_at=MICROS.astimezone(PLUS_TWO)))
    got = scores.get_score(score.id)
    assert got.created_at == EXPECTED
    assert _is_utc(got.created_at)


def test_workflow_times_are_utc_milliseconds(store: Any) -> None:
    workflows = domain(store, "workflows")
    name, run_id = uid("wf"), uid("run")
    workflows.persist_snapshot(name, run_id, {"status": "running"})
    run = workflows.get_run(run_id, workflow_name=name)
    assert _is_utc(run.created_at) and _is_utc(run.updated_at)
    assert run.created_at.microsecond % 1000 == 0
    assert run.updated_at >= run.created_at
