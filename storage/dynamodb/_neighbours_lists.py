"""What a neighbour list is, and when a thread's lists can be trusted.

The attributes (``nbp``/``nbn`` on a message item; ``sv`` and the certificate ``nbc``
on the thread item) and the checks a reader makes before using them; the design is in
``neighbours.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.dynamodb.codec import get_n, get_s, s
from storage.dynamodb.itemsize import attribute_size
from storage.dynamodb.keys import MSG_LOW
from storage.dynamodb.schema import NEIGHBOURS_NEXT, NEIGHBOURS_PREVIOUS, STRUCTURE_VERSION
from storage.validation import MAX_ID_LENGTH

RANGE = 2
"""Neighbours listed on each side: windows up to ``message_range`` 2 need no Query."""
PREVIOUS = NEIGHBOURS_PREVIOUS
NEXT = NEIGHBOURS_NEXT
VERSION = STRUCTURE_VERSION
CERTIFICATE = "nbc"

Keys = tuple[str, ...]


def list_bytes() -> int:
    """The most bytes both lists add to an item (ids of the longest allowed length)."""
    entry = {"S": MSG_LOW + "0" * 16 + "#" + "x" * MAX_ID_LENGTH}
    one = {"L": [entry] * RANGE}
    return attribute_size(PREVIOUS, one) + attribute_size(NEXT, one)


def thread_version(thread: Mapping[str, Any]) -> int:
    """The thread item's structure version (0 before the first counted change)."""
    return get_n(thread, VERSION)


def certificate(thread: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The thread's certificate map (``sv``, ``count``, ``tail``), or ``None``."""
    value = thread.get(CERTIFICATE)
    return value.get("M") if isinstance(value, Mapping) else None


def certified(thread: Mapping[str, Any]) -> bool:
    """Whether every neighbour list in the thread is exact (see the module docstring)."""
    cert = certificate(thread)
    return cert is not None and get_n(cert, "sv", -1) == thread_version(thread)


def appended_since_certified(thread: Mapping[str, Any]) -> tuple[str, int] | None:
    """(the certified tail, how many messages were added since) when nothing was removed.

    ``None``: no certificate, or messages were removed, moved or re-timed since (then the
    lists are no guide). ``(tail, 0)`` is a certified thread. With ``n > 0`` every list is
    still exact if those ``n`` messages all sort after ``tail`` (a reader checks that by
    reading the thread's newest ``n + 1``): lists of messages before ``tail`` do not see
    them, which only matters for the next-lists that end at ``tail``.
    """
    cert = certificate(thread)
    if cert is None or "tail" not in cert:
        return None
    added = get_n(thread, "message_count") - get_n(cert, "count")
    if added < 0 or thread_version(thread) - get_n(cert, "sv") != added:
        return None
    return get_s(cert, "tail") or "", added


def lists_of(item: Mapping[str, Any]) -> tuple[Keys, Keys] | None:
    """An item's (previous, next) sort keys, nearest first; ``None`` when it has none."""
    previous, following = item.get(PREVIOUS), item.get(NEXT)
    if not isinstance(previous, Mapping) or not isinstance(following, Mapping):
        return None
    if "L" not in previous or "L" not in following:
        return None
    return (
        tuple(v.get("S", "") for v in previous["L"]),
        tuple(v.get("S", "") for v in following["L"]),
    )


def list_values(previous: Keys, following: Keys) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both lists as DynamoDB values."""
    return {"L": [s(k) for k in previous]}, {"L": [s(k) for k in following]}
