"""SQL fragments and value encodings shared by the PostgreSQL domains.

Mastra keeps each timestamp twice: ``"createdAt"`` (``timestamp``, UTC wall time,
indexed) and ``"createdAtZ"`` (``timestamptz``). Both are written; reads prefer the
``Z`` column, as ``@mastra/pg`` does, and fall back to the wall-time one for rows
written before the mirror existed. Filters and ``ORDER BY`` use the wall-time
column, which Mastra's default indexes cover.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from storage.errors import StorageError, ValidationError
from storage.postgres.driver import Json
from storage.timeutil import from_epoch_ms, to_iso, to_ms


def ms(column: str, alias: str, table: str = "") -> str:
    """Select a Mastra timestamp pair as epoch milliseconds named ``alias``."""
    prefix = f"{table}." if table else ""
    expr = f'COALESCE({prefix}"{column}Z", {prefix}"{column}" AT TIME ZONE \'UTC\')'
    return f"floor(extract(epoch FROM {expr}) * 1000)::bigint AS {alias}"


def ms_nullable(column: str, alias: str, table: str = "") -> str:
    """Like :func:`ms` for a nullable timestamp (its ``Z`` mirror defaults to now())."""
    prefix = f"{table}." if table else ""
    expr = (
        f'CASE WHEN {prefix}"{column}" IS NULL THEN NULL '
        f'ELSE COALESCE({prefix}"{column}Z", {prefix}"{column}" AT TIME ZONE \'UTC\') END'
    )
    return f"floor(extract(epoch FROM {expr}) * 1000)::bigint AS {alias}"


def tstz(param: str) -> str:
    """A ``:param`` holding ISO text, as ``timestamptz``."""
    return f"CAST(:{param} AS timestamptz)"


def wall(param: str) -> str:
    """A ``:param`` holding ISO text, as UTC wall time (``timestamp``)."""
    return f"(CAST(:{param} AS timestamptz) AT TIME ZONE 'UTC')"


def set_times(column: str, param: str) -> str:
    """``"col" = <wall>, "colZ" = <tstz>`` for an UPDATE's SET list."""
    return f'"{column}" = {wall(param)}, "{column}Z" = {tstz(param)}'


def time_param(value: object, what: str) -> str:
    """A caller's time bound as a parameter; refuses non-datetimes and naive datetimes."""
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a datetime, got {type(value).__name__}")
    try:
        return to_iso(to_ms(value))
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def iso(value: datetime) -> str:
    """A timestamp parameter: ISO-8601 with milliseconds and ``Z``."""
    return to_iso(value)


def iso_or_none(value: datetime | None) -> str | None:
    """:func:`iso`, or ``None``."""
    return None if value is None else to_iso(value)


def from_ms(value: Any) -> datetime:
    """Read an epoch-milliseconds column."""
    if value is None:
        raise StorageError("a stored timestamp is NULL")
    return from_epoch_ms(int(value))


def from_ms_or_none(value: Any) -> datetime | None:
    """:func:`from_ms`, with NULL read as ``None``."""
    return None if value is None else from_epoch_ms(int(value))


def dumps(value: Any) -> str:
    """Compact JSON text, as ``JSON.stringify`` writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(value: Any) -> Any:
    """Decode a JSON column read as text; NULL reads as ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise StorageError(f"a stored JSON column is not valid JSON: {exc}") from exc


def loads_dict(value: Any) -> dict[str, Any]:
    """Decode a JSON object column; NULL or a non-object reads as ``{}``."""
    decoded = loads(value)
    return decoded if isinstance(decoded, dict) else {}


def id_list(ids: Sequence[str]) -> Json:
    """A list of ids as a JSON parameter (the Data API has no array parameters)."""
    return Json(list(ids))


IN_IDS = "(SELECT jsonb_array_elements_text(CAST(:{name} AS jsonb)))"


def in_ids(name: str) -> str:
    """``(SELECT ... FROM :name)``: the right side of ``col IN`` for a JSON id list."""
    return IN_IDS.format(name=name)


def ordered(rows: Sequence[Any], ids: Sequence[str], key: Callable[[Any], str]) -> list[Any]:
    """Rows in the order of ``ids`` (first occurrence), unknown ids skipped."""
    by_id = {key(r): r for r in rows}
    seen: set[str] = set()
    out = []
    for i in ids:
        if i in by_id and i not in seen:
            seen.add(i)
            out.append(by_id[i])
    return out
