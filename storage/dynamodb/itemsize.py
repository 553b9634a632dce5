"""Exact DynamoDB item sizes, computed before every write.

Source: the AWS developer guide, "DynamoDB item sizes and formats"
(CapacityUnitCalculations): an item's size is the sum of its attribute names and
values, where

* a string is its UTF-8 bytes; a binary value its raw bytes (not the base64);
* a number takes 1 byte plus 1 byte per two significant digits (leading and
  trailing zeros trimmed, at most 38 digits). DynamoDB stores numbers as base-100
  digit pairs aligned on the decimal point, so ``123.4`` is ``01|23|40``: we count
  aligned pairs, which is exact for that encoding and never below the guide's
  "approximately" figure;
* a null or a Boolean is 1 byte;
* a list or a map costs 3 bytes, plus 1 byte per element, plus its elements (map
  keys count as attribute names);
* a set is the sum of its members.

The 400 KB limit counts the same way, names included, so this is what decides
whether an item has to offload an attribute.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

ITEM_LIMIT = 400 * 1024
"""DynamoDB's hard maximum item size (400 KB, names and values)."""

_CONTAINER_OVERHEAD = 3
_ELEMENT_OVERHEAD = 1


def number_size(text: str) -> int:
    """Bytes a DynamoDB number (given as its wire string) occupies."""
    mantissa = text.strip().lstrip("+-").lower()
    exponent = 0
    if "e" in mantissa:
        mantissa, exp = mantissa.split("e", 1)
        exponent = int(exp)
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    if not digits.strip("0"):
        return 1 + 1  # zero: one digit pair
    # The position of the decimal point among the digits, after applying the exponent.
    point = len(whole) + exponent
    leading_zeros = len(whole + fraction) - len((whole + fraction).lstrip("0"))
    point -= leading_zeros
    significant = digits.rstrip("0")
    # Pad on the left so the point falls on a pair boundary, then count pairs.
    pad = point % 2
    pairs = (pad + len(significant) + 1) // 2
    return 1 + pairs


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one AttributeValue (``{"S": ...}``, ``{"M": {...}}``...), without its name."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(_raw(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return _CONTAINER_OVERHEAD + sum(
            _ELEMENT_OVERHEAD + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items()
        )
    if kind == "L":
        return _CONTAINER_OVERHEAD + sum(_ELEMENT_OVERHEAD + value_size(v) for v in inner)
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(_raw(b)) for b in inner)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def attribute_size(name: str, value: Mapping[str, Any]) -> int:
    """Bytes of one named attribute."""
    return len(name.encode("utf-8")) + value_size(value)


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes of a whole item in DynamoDB's accounting (what the 400 KB limit counts)."""
    return sum(attribute_size(name, value) for name, value in item.items())


def _raw(data: bytes | str) -> bytes:
    # The low-level wire format carries binary as base64 text; botocore takes bytes.
    return data if isinstance(data, bytes | bytearray) else base64.b64decode(data)
