"""The Data API's wire format: parameters out, rows in, and what a request weighs.

* Parameters are sent by name with typed fields (``stringValue``, ``longValue``,
  ``doubleValue``, ``booleanValue``, ``isNull``; JSON with ``typeHint: JSON``).
* Results come back as ``formatRecordsAs="JSON"`` (one JSON string of row objects).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from storage.errors import StorageError, ValidationError
from storage.postgres.driver import DriverStats, Json, Params, Row, scan_placeholders
from storage.timeutil import to_iso


def encode_value(value: Any) -> dict[str, Any]:
    """One Python value as a Data API ``Field`` (plus ``typeHint`` where needed)."""
    if value is None:
        return {"value": {"isNull": True}}
    if isinstance(value, Json):
        return {"value": {"stringValue": json_text(value)}, "typeHint": "JSON"}
    if isinstance(value, bool):
        return {"value": {"booleanValue": value}}
    if isinstance(value, int):
        return {"value": {"longValue": value}}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError("a non-finite number cannot be sent to the Data API")
        return {"value": {"doubleValue": value}}
    if isinstance(value, str):
        return {"value": {"stringValue": value}}
    if isinstance(value, datetime):
        # Not typeHint TIMESTAMP: that format has no zone. ISO text with "Z" + a SQL cast.
        return {"value": {"stringValue": to_iso(value)}}
    if isinstance(value, bytes | bytearray):
        return {"value": {"blobValue": bytes(value)}}
    raise ValidationError(f"cannot send a {type(value).__name__} to the Data API")


def encode_parameters(sql: str, params: Params | None) -> list[dict[str, Any]]:
    """The ``parameters`` list for the placeholders ``sql`` uses.

    Raises:
        StorageError: a placeholder has no value (a bug in the calling code).
    """
    names = list(dict.fromkeys(name for _, _, name in scan_placeholders(sql)))
    given = params or {}
    out = []
    for name in names:
        if name not in given:
            raise StorageError(f"SQL parameter :{name} has no value")
        out.append({"name": name, **encode_value(given[name])})
    return out


def json_text(value: Json) -> str:
    """The compact JSON text a :class:`Json` parameter is sent as."""
    return json.dumps(value.value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def as_text(value: Any) -> str:
    """A parameter's value as the text a statement receives."""
    return json_text(value) if isinstance(value, Json) else str(value)


def text_size(value: Any) -> int:
    """The characters a text or JSON parameter sends (0 for other types)."""
    if isinstance(value, Json):
        return len(json_text(value))
    return len(value) if isinstance(value, str) else 0


def request_size(request: Mapping[str, Any]) -> int:
    """The bytes ``request`` takes as JSON on the wire (blobs counted as base64)."""

    def default(obj: Any) -> str:
        return "x" * (len(obj) * 4 // 3 + 4) if isinstance(obj, bytes) else str(obj)

    return len(json.dumps(request, default=default).encode("utf-8"))


def replace_placeholders(sql: str, replacements: Mapping[str, str]) -> str:
    """``sql`` with each ``:name`` in ``replacements`` replaced by its SQL text."""
    out: list[str] = []
    last = 0
    for start, end, name in scan_placeholders(sql):
        if name in replacements:
            out.append(sql[last:start])
            out.append(replacements[name])
            last = end
    out.append(sql[last:])
    return "".join(out)


def decode_rows(response: Mapping[str, Any]) -> list[Row]:
    """The rows of an ``ExecuteStatement`` response (``formattedRecords``)."""
    formatted = response.get("formattedRecords")
    if not formatted:
        return []
    decoded = json.loads(formatted)
    return decoded if isinstance(decoded, list) else []


def counted(stats: DriverStats, rows: list[Row]) -> list[Row]:
    """``rows``, added to ``stats``."""
    stats.add(rows=len(rows))
    return rows
