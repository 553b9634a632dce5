"""JSON values <-> DynamoDB AttributeValues, and the sortable keys the tables use.

Maps are native (``M``) where the backend updates keys server side (thread and
resource metadata); documents that are only ever replaced whole (message content,
snapshots, span payloads) are stored as one JSON string, which is exact for every
JSON value and is what the overflow rule offloads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from storage.errors import ValidationError
from storage.timeutil import from_epoch_ms, to_epoch_ms

AV = dict[str, Any]
Item = dict[str, AV]

# Shifts epoch ms so dates before 1970 still give a non-negative, fixed-width key.
_EPOCH_SHIFT = 62_135_596_800_000  # ms from 0001-01-01 to 1970-01-01
_MAX_DIGITS = 38


def sort_time(value: datetime) -> str:
    """A fixed-width string that sorts like the timestamp (16 digits of shifted ms)."""
    return f"{to_epoch_ms(value) + _EPOCH_SHIFT:016d}"


def sort_key(value: datetime, ident: str) -> str:
    """``<sort_time>#<id>``: orders by time, then id."""
    return f"{sort_time(value)}#{ident}"


def to_av(value: Any) -> AV:
    """A JSON value as a DynamoDB AttributeValue.

    Raises:
        ValidationError: a number DynamoDB cannot hold (over 38 digits, out of range).
    """
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        text = str(value)
        if len(text.lstrip("-")) > _MAX_DIGITS:
            raise ValidationError("integer has more than 38 digits, which DynamoDB cannot store")
        return {"N": text}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError("non-finite number")
        if value != 0 and not (1e-130 <= abs(value) < 1e126):
            raise ValidationError(f"number {value!r} is outside DynamoDB's range")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_av(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_av(v) for v in value]}
    raise ValidationError(f"{type(value).__name__} is not a JSON value")


def from_av(av: Mapping[str, Any]) -> Any:
    """The JSON value of an AttributeValue (numbers with a point or exponent are floats)."""
    ((kind, inner),) = av.items()
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL"):
        return inner
    if kind == "N":
        return float(inner) if any(c in inner for c in ".eE") else int(inner)
    if kind == "M":
        return {k: from_av(v) for k, v in inner.items()}
    if kind == "L":
        return [from_av(v) for v in inner]
    raise ValueError(f"unexpected DynamoDB type {kind!r}")


def s(value: str) -> AV:
    """A string AttributeValue."""
    return {"S": value}


def n(value: int) -> AV:
    """A number AttributeValue."""
    return {"N": str(value)}


def ms(value: datetime) -> AV:
    """A timestamp as epoch milliseconds."""
    return {"N": str(to_epoch_ms(value))}


def get_s(item: Mapping[str, AV], name: str) -> str | None:
    """A string attribute, or ``None`` when absent or NULL."""
    av = item.get(name)
    return av.get("S") if av else None


def get_n(item: Mapping[str, AV], name: str, default: int = 0) -> int:
    """A whole-number attribute."""
    av = item.get(name)
    return int(av["N"]) if av and "N" in av else default


def get_time(item: Mapping[str, AV], name: str) -> datetime | None:
    """A timestamp stored as epoch milliseconds."""
    av = item.get(name)
    return from_epoch_ms(int(av["N"])) if av and "N" in av else None


def dumps(value: Any) -> str:
    """Compact JSON (what a document attribute holds)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(text: str) -> Any:
    """Inverse of :func:`dumps`."""
    return json.loads(text)
