"""Rows of Mastra's tables <-> Stowage records.

Reads are lenient about what another writer (Mastra, an older Mastra) left behind:
JSONB blobs, a NULL ``resourceId``, a plain-string message content.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from storage.records import Message, Resource, Score, Span, Thread, WorkflowRun
from storage.sqlite._codec import (
    dumps,
    dumps_or_none,
    iso,
    iso_or_none,
    loads,
    loads_dict,
    parse_time,
    parse_time_or_none,
)

THREAD_COLUMNS = 'id, "resourceId", title, metadata, "createdAt", "updatedAt"'
MESSAGE_COLUMNS = 'id, thread_id, content, role, type, "createdAt", "resourceId"'
RESOURCE_COLUMNS = 'id, "workingMemory", metadata, "createdAt", "updatedAt"'
RUN_COLUMNS = 'workflow_name, run_id, "resourceId", snapshot, "createdAt", "updatedAt"'


def thread_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Thread:
    """A ``mastra_threads`` row selected with :data:`THREAD_COLUMNS`."""
    return Thread(
        id=row[0],
        resource_id=row[1],
        title=row[2],
        metadata=loads_dict(row[3]),
        created_at=parse_time(row[4]),
        updated_at=parse_time(row[5]),
    )


def message_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Message:
    """A ``mastra_messages`` row selected with :data:`MESSAGE_COLUMNS`."""
    raw = row[2]
    try:
        content = loads(raw)
    except Exception:  # a v1 message may hold plain text
        content = raw
    if not isinstance(content, dict):
        # Mastra's v1 messages held a string (or a list of parts); present them as format 2.
        text = content if isinstance(content, str) else dumps(content)
        content = {"format": 2, "parts": [{"type": "text", "text": text}], "content": text}
    return Message(
        id=row[0],
        thread_id=row[1],
        role=row[3],
        content=content,
        type=row[4] or "v2",
        created_at=parse_time(row[5]),
        resource_id=row[6],
    )


def message_params(message: Message) -> tuple[Any, ...]:
    """Values in :data:`MESSAGE_COLUMNS` order; content as Mastra writes it (JSON text)."""
    return (
        message.id,
        message.thread_id,
        dumps(message.content),
        message.role,
        message.type,
        iso(message.created_at),
        message.resource_id,
    )


def resource_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Resource:
    """A ``mastra_resources`` row selected with :data:`RESOURCE_COLUMNS`."""
    working_memory = row[1]
    if working_memory is not None and not isinstance(working_memory, str):
        working_memory = dumps(loads(working_memory))
    return Resource(
        id=row[0],
        working_memory=working_memory,
        metadata=loads_dict(row[2]),
        created_at=parse_time(row[3]),
        updated_at=parse_time(row[4]),
    )


def run_from_row(row: sqlite3.Row | tuple[Any, ...]) -> WorkflowRun:
    """A ``mastra_workflow_snapshot`` row selected with :data:`RUN_COLUMNS`."""
    snapshot = loads_dict(row[3])
    created = parse_time(row[4])
    return WorkflowRun(
        workflow_name=row[0],
        run_id=row[1],
        resource_id=row[2],
        snapshot=snapshot,
        status=run_status(snapshot),
        created_at=created,
        updated_at=parse_time_or_none(row[5]) or created,
    )


def run_status(snapshot: dict[str, Any]) -> str:
    """A run's status is its snapshot's (Mastra's default for a new run is ``pending``)."""
    status = snapshot.get("status", "pending")
    return status if isinstance(status, str) else str(status)


# Span field -> mastra_ai_spans column, and which hold JSON.
SPAN_COLUMNS: dict[str, str] = {
    "trace_id": "traceId",
    "span_id": "spanId",
    "name": "name",
    "span_type": "spanType",
    "started_at": "startedAt",
    "parent_span_id": "parentSpanId",
    "ended_at": "endedAt",
    "input": "input",
    "output": "output",
    "error": "error",
    "attributes": "attributes",
    "metadata": "metadata",
    "entity_type": "entityType",
    "entity_id": "entityId",
    "entity_name": "entityName",
    "resource_id": "resourceId",
    "thread_id": "threadId",
    "run_id": "runId",
}
_SPAN_JSON = frozenset({"input", "output", "error", "attributes", "metadata"})
_SPAN_TIMES = frozenset({"started_at", "ended_at"})
SPAN_SELECT = ", ".join(f'"{column}"' for column in SPAN_COLUMNS.values())


def span_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Span:
    """A ``mastra_ai_spans`` row selected with :data:`SPAN_SELECT`."""
    values: dict[str, Any] = {}
    for (field, _column), value in zip(SPAN_COLUMNS.items(), row, strict=True):
        if field in ("attributes", "metadata"):
            values[field] = loads_dict(value)
        elif field in _SPAN_JSON:
            values[field] = loads(value)
        elif field in _SPAN_TIMES:
            values[field] = parse_time_or_none(value)
        else:
            values[field] = value
    return Span(**values)


def span_params(span: Span) -> list[Any]:
    """Values in :data:`SPAN_COLUMNS` order."""
    params: list[Any] = []
    for field in SPAN_COLUMNS:
        value = getattr(span, field)
        if field in _SPAN_JSON:
            params.append(dumps_or_none(value))
        elif field in _SPAN_TIMES:
            params.append(iso_or_none(value))
        else:
            params.append(value)
    return params


SCORE_COLUMNS: dict[str, str] = {
    "id": "id",
    "scorer_id": "scorerId",
    "score": "score",
    "run_id": "runId",
    "created_at": "createdAt",
    "reason": "reason",
    "entity_type": "entityType",
    "entity_id": "entityId",
    "trace_id": "traceId",
    "span_id": "spanId",
    "input": "input",
    "output": "output",
    "metadata": "metadata",
    "source": "source",
    "resource_id": "resourceId",
    "thread_id": "threadId",
}
SCORE_SELECT = ", ".join(f'"{column}"' for column in SCORE_COLUMNS.values())


def score_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Score:
    """A ``mastra_scorers`` row selected with :data:`SCORE_SELECT`."""
    values = dict(zip(SCORE_COLUMNS, row, strict=True))
    values["score"] = float(values["score"]) if values["score"] is not None else 0.0
    values["created_at"] = parse_time(values["created_at"])
    values["input"] = loads(values["input"])
    values["output"] = loads(values["output"])
    values["metadata"] = loads_dict(values["metadata"])
    return Score(**values)


def score_params(score: Score) -> list[Any]:
    """Values in :data:`SCORE_COLUMNS` order."""
    params: list[Any] = []
    for field in SCORE_COLUMNS:
        value = getattr(score, field)
        if field in ("input", "output", "metadata"):
            params.append(dumps_or_none(value))
        elif field == "created_at":
            params.append(iso(value))
        else:
            params.append(value)
    return params
