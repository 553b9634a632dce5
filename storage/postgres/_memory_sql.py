"""SQL, row decoding and input checks of the PostgreSQL ``memory`` domain."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from storage.errors import MessageIdConflictError, NotFoundError, ValidationError
from storage.postgres import _codec as c
from storage.postgres.driver import Json, Row, Session
from storage.records import Include, Message, Resource, Thread

THREAD_COLS = (
    'id, "resourceId" AS resource_id, title, metadata::text AS metadata, '
    f'{c.ms("createdAt", "created_at")}, {c.ms("updatedAt", "updated_at")}'
)
MESSAGE_COLS = (
    'm.id, m.thread_id, m.content, m.role, m.type, m."resourceId" AS resource_id, '
    f'{c.ms("createdAt", "created_at", "m")}'
)
RESOURCE_COLS = (
    'id, "workingMemory" AS working_memory, metadata::text AS metadata, '
    f'{c.ms("createdAt", "created_at")}, {c.ms("updatedAt", "updated_at")}'
)
# What an UPDATE ... RETURNING sends back inline: the whole row unless its variable-size
# columns pass this many bytes (the Data API refuses a result row over 64 KB, and the
# update would then look failed although it committed); an ``oversize`` row is read
# back with a SELECT, which the driver fetches in chunks.
INLINE_ROW_BYTES = 32 * 1024


def _inline(cols: list[str], big: dict[str, str]) -> str:
    """RETURNING columns: ``cols`` as given, ``big`` ones (alias -> expression) nulled
    past the inline limit, and the ``oversize`` flag."""
    size = " + ".join(f"COALESCE(octet_length({expr}), 0)" for expr in big.values())
    fits = f"({size}) <= {INLINE_ROW_BYTES}"
    parts = [*cols, *(f"CASE WHEN {fits} THEN {expr} END AS {a}" for a, expr in big.items())]
    return ", ".join([*parts, f"NOT ({fits}) AS oversize"])


THREAD_RETURNING = _inline(
    ["id", '"resourceId" AS resource_id', c.ms("createdAt", "created_at"),
     c.ms("updatedAt", "updated_at")],
    {"title": "title", "metadata": "metadata::text"},
)
RESOURCE_RETURNING = _inline(
    ["id", c.ms("createdAt", "created_at"), c.ms("updatedAt", "updated_at")],
    {"working_memory": '"workingMemory"', "metadata": "metadata::text"},
)


ORDER_COLUMN = {"created_at": '"createdAt"', "updated_at": '"updatedAt"'}
OBJECT_OR_EMPTY = "(CASE WHEN jsonb_typeof({col}) = 'object' THEN {col} ELSE '{{}}'::jsonb END)"


def thread_from_row(row: Row) -> Thread:
    return Thread(
        id=row["id"],
        resource_id=row["resource_id"],
        # The column is NOT NULL in Mastra's schema: "" stands for "no title".
        title=row["title"] or None,
        metadata=c.loads_dict(row["metadata"]),
        created_at=c.from_ms(row["created_at"]),
        updated_at=c.from_ms(row["updated_at"]),
    )


def content_from_column(raw: Any) -> dict[str, Any]:
    try:
        decoded = c.loads(raw)
    except Exception:  # a v1 message written by an old Mastra: plain text
        decoded = raw
    if isinstance(decoded, dict):
        return decoded
    text = decoded if isinstance(decoded, str) else c.dumps(decoded)
    return {"format": 2, "parts": [{"type": "text", "text": text}], "content": text}


def message_from_row(row: Row) -> Message:
    return Message(
        id=row["id"],
        thread_id=row["thread_id"],
        role=row["role"],
        content=content_from_column(row["content"]),
        created_at=c.from_ms(row["created_at"]),
        resource_id=row["resource_id"],
        type=row["type"] or "v2",
    )


def resource_from_row(row: Row) -> Resource:
    return Resource(
        id=row["id"],
        working_memory=row["working_memory"],
        metadata=c.loads_dict(row["metadata"]),
        created_at=c.from_ms(row["created_at"]),
        updated_at=c.from_ms(row["updated_at"]),
    )


def total_and_items(rows: list[Row]) -> tuple[int, list[Row]]:
    """Split the ``total`` column of a ``count LEFT JOIN page`` result from its rows."""
    total = int(rows[0]["total"]) if rows else 0
    return total, [r for r in rows if r.get("id") is not None]


# The marker of the error :func:`_save_messages_sql` raises to refuse a move.
MOVE_REFUSED = "stowage-refused-move-of-message-"


def _save_messages_sql(allow_move: bool) -> str:
    """The one statement that saves a batch of messages and bumps their threads.

    Without moves, the upsert leaves a row of another thread alone (``DO UPDATE ...
    WHERE``; this also catches a row a concurrent transaction inserted after this
    statement's snapshot) and the final ``SELECT`` then fails the whole statement, so
    nothing of the batch is written. SQL has no ``RAISE`` outside PL/pgSQL: the failure
    is a cast of a marker to integer (SQLSTATE 22P02), which :func:`save_rows` turns
    into :class:`MessageIdConflictError`. The marker is built from a row value so the
    planner cannot fold the cast, and raise, when the batch is fine.
    """
    same_thread = "" if allow_move else " WHERE mastra_messages.thread_id = EXCLUDED.thread_id"
    refuse = "" if allow_move else (
        ", CAST(CASE WHEN NOT EXISTS (SELECT 1 FROM missing) AND "
        "(SELECT count(*) FROM saved) < (SELECT count(*) FROM input) "
        f"THEN '{MOVE_REFUSED}' || (SELECT min(i.id) FROM input i "
        "WHERE i.id NOT IN (SELECT id FROM saved)) END AS integer) AS refused"
    )
    return (
        "WITH input AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x("
        "id text, thread_id text, content text, role text, type text, created_at text, "
        "resource_id text)), "
        # Every thread the batch names, superseded entries included: all must exist.
        "named AS (SELECT DISTINCT jsonb_array_elements_text(CAST(:threads AS jsonb)) "
        "AS thread_id), "
        # Lock the target threads so a concurrent delete_thread cannot orphan the messages.
        'threads AS (SELECT t.id, t."resourceId" FROM mastra_threads t '
        "WHERE t.id IN (SELECT thread_id FROM named) FOR UPDATE), "
        "missing AS (SELECT n.thread_id FROM named n "
        "WHERE NOT EXISTS (SELECT 1 FROM threads t WHERE t.id = n.thread_id)), "
        'saved AS (INSERT INTO mastra_messages (id, thread_id, content, role, type, '
        '"createdAt", "createdAtZ", "resourceId") '
        "SELECT i.id, i.thread_id, i.content, i.role, i.type, "
        "CAST(i.created_at AS timestamptz) AT TIME ZONE 'UTC', CAST(i.created_at AS timestamptz), "
        'COALESCE(i.resource_id, t."resourceId") FROM input i JOIN threads t ON t.id = i.thread_id '
        "WHERE NOT EXISTS (SELECT 1 FROM missing) "
        "ON CONFLICT (id) DO UPDATE SET thread_id = EXCLUDED.thread_id, "
        "content = EXCLUDED.content, role = EXCLUDED.role, type = EXCLUDED.type, "
        '"createdAt" = EXCLUDED."createdAt", "createdAtZ" = EXCLUDED."createdAtZ", '
        f'"resourceId" = EXCLUDED."resourceId"{same_thread} '
        'RETURNING id, "resourceId"), '
        f"bumped AS (UPDATE mastra_threads SET {c.set_times('updatedAt', 'now')} "
        "WHERE id IN (SELECT id FROM threads) AND NOT EXISTS (SELECT 1 FROM missing) "
        "RETURNING id) "
        "SELECT (SELECT COALESCE(jsonb_agg(thread_id), '[]'::jsonb) FROM missing)::text "
        "AS missing, "
        "(SELECT COALESCE(jsonb_object_agg(id, \"resourceId\"), '{}'::jsonb) FROM saved)::text "
        "AS saved, "
        f"(SELECT count(*) FROM bumped) AS bumped{refuse}"
    )


SAVE_MESSAGES_SQL = _save_messages_sql(allow_move=True)
SAVE_MESSAGES_NO_MOVE_SQL = _save_messages_sql(allow_move=False)


def save_rows(
    session: Session,
    rows: list[dict[str, Any]],
    now: str,
    threads: list[str],
    *,
    allow_move: bool = True,
) -> dict[str, Any]:
    """Run the save statement; the saved ids' resource ids.

    ``threads`` is every thread the batch names (a superseded entry's too), so a batch
    that mentions a missing thread is refused whole, as the reference does.

    Raises:
        NotFoundError: a thread the batch names does not exist.
        MessageIdConflictError: ``allow_move=False`` and an id lives in another thread.
    """
    sql = SAVE_MESSAGES_SQL if allow_move else SAVE_MESSAGES_NO_MOVE_SQL
    try:
        row = session.fetch_one(
            sql, {"rows": Json(rows), "now": now, "threads": Json(threads)}
        )
    except ValidationError as exc:
        text = str(exc)
        if allow_move or MOVE_REFUSED not in text:
            raise
        # The marker is followed by the id (PostgreSQL quotes the value: ``"<marker><id>"``).
        refused = next((r["id"] for r in rows if f'{MOVE_REFUSED}{r["id"]}"' in text),
                       rows[0]["id"])
        raise MessageIdConflictError(refused) from exc
    assert row is not None
    missing = c.loads(row["missing"]) or []
    if missing:
        raise NotFoundError(f"thread {missing[0]!r} not found")
    return c.loads_dict(row["saved"])


def split_rows(rows: list[dict[str, Any]], limit: int | None) -> list[list[dict[str, Any]]]:
    """Rows grouped so each group's JSON stays under ``limit`` bytes (one group if no limit).

    A single row over the limit stays alone; the driver then refuses it as too large.
    """
    if limit is None:
        return [rows]
    budget = limit - len(SAVE_MESSAGES_NO_MOVE_SQL) - 1024
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for row in rows:
        # Measured as sent: the rows travel as a JSON string inside the JSON request body.
        row_size = len(json.dumps(c.dumps(row))) + 1
        if chunks[-1] and size + row_size > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += row_size
    return chunks


def with_resource(message: Message, resource_id: Any) -> Message:
    if message.resource_id is not None or not isinstance(resource_id, str):
        return message
    return Message(
        id=message.id,
        thread_id=message.thread_id,
        role=message.role,
        content=message.content,
        created_at=message.created_at,
        resource_id=resource_id,
        type=message.type,
    )


def include_rows(include: Sequence[Include]) -> list[dict[str, Any]]:
    """Checked includes as the rows the list query's ``jsonb_to_recordset`` reads."""
    return [
        {"id": item.id, "prev": item.with_previous, "next": item.with_next}
        for item in include
    ]
