"""Record builders shared by the conformance tests.

Ids are unique per call, so tests stay independent on backends whose data outlives
one test (a shared PostgreSQL database). Timestamps are explicit and distinct
where order matters, so backends with coarse clocks sort the same way.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.records import Message, Score, Span, Thread

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
"""A fixed base time; :func:`at` offsets from it."""


def uid(prefix: str = "id") -> str:
    """A fresh id, readable in failure output."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def at(seconds: float = 0) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def domain(store: Any, name: str) -> Any:
    """The store's domain ``name``; skips the test when the backend lacks it."""
    value = getattr(store, name, None)
    if value is None:
        pytest.skip(f"this backend has no {name} domain")
    return value


def content(text: str, **extra: Any) -> dict[str, Any]:
    """Mastra format-2 content with one text part."""
    return {"format": 2, "parts": [{"type": "text", "text": text}], **extra}


def make_thread(
    resource_id: str | None = None,
    *,
    thread_id: str | None = None,
    created: float = 0,
    updated: float | None = None,
    **fields: Any,
) -> Thread:
    """A thread created ``created`` seconds after ``T0`` (updated then too by default)."""
    return Thread(
        id=uid("thread") if thread_id is None else thread_id,
        resource_id=resource_id or uid("resource"),
        created_at=at(created),
        updated_at=at(created if updated is None else updated),
        **fields,
    )


def new_thread(memory: Any, resource_id: str | None = None, **fields: Any) -> Thread:
    """Save a fresh thread and return it as stored."""
    stored: Thread = memory.save_thread(make_thread(resource_id, **fields))
    return stored


def make_message(
    thread_id: str,
    text: str = "hello",
    *,
    message_id: str | None = None,
    created: float = 0,
    role: str = "user",
    **fields: Any,
) -> Message:
    """A text message created ``created`` seconds after ``T0``."""
    return Message(
        id=uid("msg") if message_id is None else message_id,
        thread_id=thread_id,
        role=role,
        content=content(text),
        created_at=at(created),
        **fields,
    )


def conversation(memory: Any, thread_id: str, count: int, *, step: float = 2, offset: float = 0,
                 prefix: str | None = None) -> list[Message]:
    """Save ``count`` messages ``step`` seconds apart (starting at ``offset``)."""
    tag = prefix or uid("m")
    messages = [
        make_message(
            thread_id,
            f"text {i}",
            message_id=f"{tag}-{i:03d}",
            created=offset + i * step,
            role="user" if i % 2 == 0 else "assistant",
        )
        for i in range(count)
    ]
    saved: list[Message] = memory.save_messages(messages)
    return saved


def make_span(
    trace_id: str,
    span_id: str | None = None,
    *,
    parent: str | None = None,
    started: float = 0,
    **fields: Any,
) -> Span:
    """A span started ``started`` seconds after ``T0``."""
    return Span(
        trace_id=trace_id,
        span_id=uid("span") if span_id is None else span_id,
        name=fields.pop("name", "agent run"),
        span_type=fields.pop("span_type", "agent_run"),
        started_at=at(started),
        parent_span_id=parent,
        **fields,
    )


def make_score(*, created: float = 0, **fields: Any) -> Score:
    """A score created ``created`` seconds after ``T0``; unique ids unless given."""
    values: dict[str, Any] = {
        "id": uid("score"),
        "scorer_id": uid("scorer"),
        "score": 0.5,
        "run_id": uid("run"),
        "created_at": at(created),
    }
    values.update(fields)
    return Score(**values)


def ids(records: Any) -> list[str]:
    """The ``id`` of each record (a list or a Page)."""
    items = getattr(records, "items", records)
    return [r.id for r in items]
