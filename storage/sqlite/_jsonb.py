"""Read SQLite's binary JSON (JSONB), which ``@mastra/libsql`` writes into JSON columns.

Mastra inserts JSON columns through ``jsonb(?)``, so a row it wrote holds a BLOB in
SQLite's JSONB format (https://sqlite.org/jsonb.html), not JSON text. The SQLite
linked into CPython is often older than 3.45 (Debian 12 and Lambda ship 3.40), whose
``json()`` cannot read JSONB, so the format is decoded here in Python instead.

Each element is a header (low nibble: type; high nibble: payload size, or 12-15 for
a 1/2/4/8-byte big-endian size that follows) and its payload; arrays and objects
hold their elements back to back.
"""

from __future__ import annotations

import json
from typing import Any

from storage.errors import StorageError

_NULL, _TRUE, _FALSE, _INT, _INT5, _FLOAT, _FLOAT5 = 0, 1, 2, 3, 4, 5, 6
_TEXT, _TEXTJ, _TEXT5, _TEXTRAW, _ARRAY, _OBJECT = 7, 8, 9, 10, 11, 12


def decode(blob: bytes) -> Any:
    """The JSON value a JSONB blob holds.

    Raises:
        StorageError: the bytes are not well-formed JSONB.
    """
    value, end = _element(blob, 0)
    if end != len(blob):
        raise StorageError("malformed JSONB: trailing bytes")
    return value


def _header(blob: bytes, pos: int) -> tuple[int, int, int]:
    """(type, payload start, payload end) of the element at ``pos``."""
    if pos >= len(blob):
        raise StorageError("malformed JSONB: truncated header")
    first = blob[pos]
    kind, size = first & 0x0F, first >> 4
    start = pos + 1
    if size >= 12:
        width = 1 << (size - 12)  # 12 -> 1 byte, 13 -> 2, 14 -> 4, 15 -> 8
        size = int.from_bytes(blob[start : start + width], "big")
        start += width
    end = start + size
    if end > len(blob):
        raise StorageError("malformed JSONB: payload past the end")
    return kind, start, end


def _element(blob: bytes, pos: int) -> tuple[Any, int]:
    kind, start, end = _header(blob, pos)
    payload = blob[start:end]
    if kind == _NULL:
        return None, end
    if kind == _TRUE:
        return True, end
    if kind == _FALSE:
        return False, end
    if kind in (_INT, _INT5):
        text = payload.decode("ascii")
        return (int(text, 0) if kind == _INT5 else int(text)), end
    if kind in (_FLOAT, _FLOAT5):
        return float(payload.decode("ascii")), end
    if kind in (_TEXT, _TEXTRAW):
        return payload.decode("utf-8"), end
    if kind in (_TEXTJ, _TEXT5):
        # The payload is the inside of a JSON string literal, escapes included.
        return json.loads(b'"' + payload + b'"'), end
    if kind == _ARRAY:
        items: list[Any] = []
        cursor = start
        while cursor < end:
            item, cursor = _element(blob, cursor)
            items.append(item)
        return items, end
    if kind == _OBJECT:
        obj: dict[str, Any] = {}
        cursor = start
        while cursor < end:
            key, cursor = _element(blob, cursor)
            if cursor >= end:
                raise StorageError("malformed JSONB: object key without a value")
            obj[str(key)], cursor = _element(blob, cursor)
        return obj, end
    raise StorageError(f"malformed JSONB: reserved element type {kind}")
