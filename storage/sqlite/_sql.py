"""Small SQL helpers shared by the SQLite domains."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from storage.errors import ValidationError
from storage.timeutil import to_iso

T = TypeVar("T")

# Well under SQLITE_MAX_VARIABLE_NUMBER on every SQLite still in use (999 before 3.32).
CHUNK = 500


def marks(count: int) -> str:
    """``?, ?, ?`` for ``count`` parameters."""
    return ", ".join("?" * count)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def bound(value: object, what: str) -> str:
    """A datetime filter argument as stored text; a naive or non-datetime is refused."""
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a datetime, got {type(value).__name__}")
    try:
        return to_iso(value)
    except ValueError as exc:
        raise ValidationError(f"{what}: {exc}") from exc


def limit_clause(page: int, per_page: int | None) -> tuple[str, list[int]]:
    """``LIMIT ? OFFSET ?`` for a page (nothing when ``per_page`` is ``None``: every row)."""
    if per_page is None:
        return "", []
    return " LIMIT ? OFFSET ?", [per_page, page * per_page]


def direction_sql(direction: str) -> str:
    """``ASC`` or ``DESC`` (already validated)."""
    return "ASC" if direction == "asc" else "DESC"


def count(conn: sqlite3.Connection, sql: str, args: Sequence[object]) -> int:
    """The single integer a ``SELECT COUNT(*)`` returns."""
    return int(conn.execute(sql, args).fetchone()[0])


def select_in(conn: sqlite3.Connection, sql: str, ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (ending ``... IN ({marks})``) for each distinct id, in batches
    of :data:`CHUNK` parameters."""
    rows: list[tuple[Any, ...]] = []
    for batch in chunks(list(dict.fromkeys(ids))):
        rows += conn.execute(sql.format(marks=marks(len(batch))), batch).fetchall()
    return rows
