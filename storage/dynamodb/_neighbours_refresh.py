"""The embed job's refresh of a thread's lists: read the thread, plan the writes.

:func:`read_thread` reads the thread newest first, only as far as the lists that can
have changed (everything when the certificate does not vouch for the rest);
:func:`plan` computes the lists each item should hold and keeps those that differ.
The design is in ``neighbours.py``; the writes are built in ``_neighbours_writes.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from storage.dynamodb._neighbours_lists import (
    CERTIFICATE,
    NEXT,
    PREVIOUS,
    RANGE,
    VERSION,
    Keys,
    appended_since_certified,
    certificate,
    lists_of,
    thread_version,
)
from storage.dynamodb.codec import Item, get_n, get_s, s
from storage.dynamodb.driver import Dynamo
from storage.dynamodb.keys import MSG_LOW
from storage.dynamodb.schema import PENDING_EMBEDDINGS, VECTOR_ATTRIBUTE

_FIRST_PAGE = 12  # the thread item, up to 7 new messages (a turn with tools) and 2 * RANGE below
_NEXT_PAGE = 200


@dataclass
class Row:
    """One message item of the thread, as the refresh needs it."""

    sk: str
    resource_id: str | None
    has_vector: bool
    lists: tuple[Keys, Keys] | None

    @classmethod
    def of(cls, item: Item) -> Row:
        return cls(
            sk=get_s(item, "sk") or "",
            resource_id=get_s(item, "resource_id"),
            has_vector=VECTOR_ATTRIBUTE in item,
            lists=lists_of(item),
        )


@dataclass
class ThreadState:
    """What a refresh read of one thread: its counters and a run of its newest messages.

    Attributes:
        thread_id: the thread.
        version: the thread's ``sv`` when read (the write is conditional on it).
        count: its ``message_count``.
        rows: messages, oldest first, from some message up to the newest: the whole
            thread, or (only messages appended after the certificate's tail) enough of
            its end that every list that can have changed is computable.
        from_start: ``rows`` reaches the thread's first message.
        certificate: the thread's certificate when read.
        pending: ids of its messages whose vector a write dropped (``pe``).
    """

    thread_id: str
    version: int
    count: int
    rows: list[Row] = field(default_factory=list)
    from_start: bool = False
    certificate: Mapping[str, Any] | None = None
    pending: frozenset[str] = frozenset()


def read_thread(dynamo: Dynamo, table: str, thread_id: str, targets: Iterable[str]
                ) -> ThreadState | None:
    """Read what a refresh of ``thread_id`` needs (``None``: the thread is gone).

    Args:
        targets: sort keys of the messages about to get vectors (their lists are needed).
    """
    wanted = sorted(targets)
    newest_first: list[Row] = []
    thread: Item | None = None
    whole = False
    start: Item | None = None
    limit = _FIRST_PAGE
    while True:
        params: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": s(f"THREAD#{thread_id}"), ":lo": s(MSG_LOW), ":hi": s("THREAD"),
            },
            # vec[0]: whether the item has a vector, without reading the vector back.
            "ProjectionExpression": "sk, resource_id, vec[0], #p, #n, #sv, message_count, #c, #pe",
            "ExpressionAttributeNames": {
                "#p": PREVIOUS, "#n": NEXT, "#sv": VERSION,
                "#c": CERTIFICATE, "#pe": PENDING_EMBEDDINGS,
            },
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }
        if start is not None:
            params["ExclusiveStartKey"] = start
        page = dynamo.call("Query", **params)
        for item in page.get("Items", []):
            if get_s(item, "sk") == "THREAD":
                thread = item
            else:
                newest_first.append(Row.of(item))
        if thread is None:
            return None  # descending, the thread item comes first: no item, no thread
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
        if not whole:
            enough, whole = _enough(thread, newest_first, wanted)
            if enough:
                break
        limit = _NEXT_PAGE
    return ThreadState(
        thread_id=thread_id,
        version=thread_version(thread),
        count=get_n(thread, "message_count"),
        rows=newest_first[::-1],
        from_start=start is None,
        certificate=certificate(thread),
        pending=frozenset(thread.get(PENDING_EMBEDDINGS, {}).get("SS", [])),
    )


def _enough(thread: Item, newest_first: list[Row], targets: list[str]) -> tuple[bool, bool]:
    """(stop reading, the whole thread must be read) after the rows read so far."""
    since = appended_since_certified(thread)
    if since is None:
        return False, True  # no certificate, or something was removed since
    tail, added = since
    above = sum(1 for r in newest_first if r.sk > tail)
    if above > added:
        return False, True
    low = min([tail, *targets])
    below = sum(1 for r in newest_first if r.sk < low)
    if below < 2 * RANGE:
        return False, False
    # Read past the old tail: only appends since the certificate, or a full repair.
    return above == added, above != added


@dataclass
class ListWrite:
    """Lists to store on one message item (with its vector when ``vector`` is set)."""

    sk: str
    previous: Keys
    following: Keys
    vector: dict[str, Any] | None = None
    resource_id: str | None = None


def plan(state: ThreadState, vectors: Mapping[str, tuple[dict[str, Any], str]]
         ) -> tuple[list[ListWrite], set[str]]:
    """The writes that make the thread's lists exact, and the target sort keys found.

    Args:
        state: the thread as read by :func:`read_thread`.
        vectors: sort key -> (the vector value, its resource id) for the messages
            getting vectors now; those not found with that resource are left out.
    """
    sks = [r.sk for r in state.rows]
    writes: list[ListWrite] = []
    found: set[str] = set()
    for i, row in enumerate(state.rows):
        if i < RANGE and not state.from_start:
            continue  # its earlier neighbours were not read; outside what can change
        previous = tuple(reversed(sks[max(0, i - RANGE) : i]))
        following = tuple(sks[i + 1 : i + 1 + RANGE])
        target = vectors.get(row.sk)
        if target is not None and row.resource_id == target[1]:
            found.add(row.sk)
            writes.append(ListWrite(row.sk, previous, following, target[0], target[1]))
        elif row.has_vector and row.lists != (previous, following):
            writes.append(ListWrite(row.sk, previous, following))
    return writes, found


def up_to_date(state: ThreadState) -> bool:
    """Whether the thread's certificate already describes ``state`` (nothing to certify)."""
    cert = state.certificate
    tail = state.rows[-1].sk if state.rows else None
    return (
        cert is not None
        and get_n(cert, "sv", -1) == state.version
        and get_n(cert, "count", -1) == state.count
        and get_s(cert, "tail") == tail
    )
