"""Column encodings shared by the SQLite domains: Mastra's, so either side reads the other.

* JSON columns hold compact JSON text; rows written by ``@mastra/libsql`` may hold
  SQLite JSONB blobs instead, and both are read back (see :mod:`._jsonb`).
* Timestamps are ISO-8601 text with milliseconds and ``Z`` (``Date.toISOString()``),
  which sort correctly as text, so range filters and ``ORDER BY`` work on them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage.errors import StorageError
from storage.sqlite import _jsonb
from storage.timeutil import from_iso, to_iso


def dumps(value: Any) -> str:
    """Compact JSON text, UTF-8 kept as is (what ``JSON.stringify`` writes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps_or_none(value: Any) -> str | None:
    """JSON text, or SQL NULL for ``None``."""
    return None if value is None else dumps(value)


def loads(value: Any) -> Any:
    """Decode a JSON column: text, a JSONB blob, or NULL (``None``)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return _jsonb.decode(bytes(value))
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise StorageError(f"a stored JSON column is not valid JSON: {exc}") from exc
    return value  # a number stored by a foreign writer in a JSON column


def loads_dict(value: Any) -> dict[str, Any]:
    """Decode a JSON object column; NULL (or a non-object) reads as ``{}``."""
    decoded = loads(value)
    return decoded if isinstance(decoded, dict) else {}


def iso(value: datetime) -> str:
    """A timestamp as stored: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return to_iso(value)


def iso_or_none(value: datetime | None) -> str | None:
    """:func:`iso`, or NULL for ``None``."""
    return None if value is None else to_iso(value)


def parse_time(value: Any) -> datetime:
    """Read a timestamp column (ISO text, or ``CURRENT_TIMESTAMP``'s ``YYYY-MM-DD HH:MM:SS``)."""
    if not isinstance(value, str):
        raise StorageError(f"a stored timestamp is not text: {value!r}")
    try:
        return from_iso(value)
    except ValueError as exc:
        raise StorageError(f"a stored timestamp is not ISO-8601: {value!r}") from exc


def parse_time_or_none(value: Any) -> datetime | None:
    """:func:`parse_time`, with NULL read as ``None``."""
    return None if value is None else parse_time(value)


def json_text(value: Any) -> str | None:
    """SQL function ``stowage_json(col)``: a JSON column as JSON text, JSONB included.

    Registered on every connection so ``json_extract(stowage_json(col), ...)`` filters
    rows whatever wrote them, on SQLite versions without JSONB support.
    """
    if value is None or isinstance(value, str):
        return value
    try:
        return dumps(loads(value))
    except (StorageError, ValueError):
        return None


def _json_equal(stored: Any, wanted: Any) -> bool:
    # JSON true is not the number 1, although Python's == says so.
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return type(stored) is type(wanted) and stored == wanted
    return bool(stored == wanted)


def metadata_matches(metadata: Any, filter_json: str) -> int:
    """SQL function ``stowage_metadata_matches(col, filter)``: top-level equality per key.

    A key the thread lacks never matches, not even ``None``.
    """
    try:
        stored = loads_dict(metadata)
    except Exception:  # an unreadable row simply does not match
        return 0
    wanted: dict[str, Any] = json.loads(filter_json)
    return int(all(k in stored and _json_equal(stored[k], value) for k, value in wanted.items()))
