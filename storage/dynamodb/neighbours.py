"""Neighbour lists: an embedded message item names its nearest messages, so a recalled
window is read with one BatchGetItem instead of two Queries.

Semantic recall fetches each match with ``message_range`` neighbours on either side.
On DynamoDB a window is "the messages just before and after this sort key", which only
a Query answers (two: one per direction), so a turn recalling 4 windows paid 8 Queries.
Instead every message item that holds a vector (only those can be matches) also holds
the sort keys of its :data:`RANGE` neighbours on each side, nearest first:

* ``nbp``: previous messages' sort keys; ``nbn``: next messages' sort keys.

The vector index projects both (``schema.with_vector_index``), so ``SearchVectors``
returns them with each match, and the windows of every match are one BatchGetItem of
known keys (the thread items ride along; see ``windows.py``).

**When a list can be trusted.** Lists are written off the answer's path, by the
vector upsert the embed job runs after each turn, so between a save and that job they
are behind. A point read cannot see that a message was inserted between two listed
neighbours, so trust is decided per thread, with two numbers on the thread item:

* ``sv`` (structure version): every transaction that adds or removes messages in the
  thread (a save, a move, a re-time, a delete) adds their count to it, in the same
  write (``MessageOps._bump``); a re-save in place or an edit adds nothing;
* ``nbc`` (certificate): ``{"sv", "count", "tail"}``, written by the upsert that made
  every list of the thread exact, conditional on ``sv`` being unchanged since it read
  the thread. ``tail`` is the thread's last sort key then, ``count`` its message count.

A thread is *certified* when ``nbc.sv == sv``: no message was added or removed since
its lists were made exact, so every list on an item with a vector is exact. When only
messages were added since (``sv`` and ``message_count`` grew alike: the last turn's
job has not run yet), one Query of the newest messages shows whether they all came
after ``tail``; then the lists still hold and the windows ending at ``tail`` continue
into them (:func:`appended_since_certified`). Otherwise a reader falls back to the two
Queries for that thread's matches (exact, as before). A deletion nobody counted (TTL)
can only remove a listed key, which the BatchGetItem shows as missing: that match
falls back too.

Races: every list and certificate write is conditional on ``sv`` (a racing save
cancels it, the upsert reads again); two upserts of one thread write lists computed
from the same state, or one of them is cancelled. A reader's BatchGetItem is not a
snapshot: a save landing between its reads gives the window as it was just before,
which is what the two Queries gave too. Any writer that adds messages to a thread
must add to ``sv`` in the same write (``MessageOps._bump`` does for every save, move
and delete); one that rewrites the thread item whole must keep ``sv`` and ``nbc``.

**Keeping lists exact, cheaply.** The upsert reads the thread newest first (one Query,
the thread item first). If since the certificate only messages after ``tail`` were
added (``sv`` and ``message_count`` both grew by the number of messages now above
``tail``, so nothing was removed and nothing landed lower), only the lists of the new
messages and of the :data:`RANGE` messages before them can have changed: it reads
``2 * RANGE`` messages below the lower of ``tail`` and the messages it embeds, and
stops. Otherwise (no certificate, a deletion, a move, a message inserted out of order)
it reads the whole thread once and repairs every list that differs. Either way it
writes only lists that changed, in the same TransactWriteItems as the vectors, with
the new certificate, conditional on ``sv``: a save racing the upsert cancels it and
the upsert reads again.

**Bytes.** Each list entry is a sort key (``MSG#`` + 16 digits + ``#`` + the message
id: 57 bytes with a UUID), so an item in mid-thread carries 4 of them, about 240 bytes
with the attribute names (measured in ``bench/vectors.py``); the vector beside them is
~8 bytes a dimension.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from storage.dynamodb.codec import Item, get_n, get_s, s
from storage.dynamodb.driver import (
    TRANSACTION_ACTIONS,
    TRANSACTION_BYTES,
    Dynamo,
    action_size,
    update,
)
from storage.dynamodb.itemsize import attribute_size
from storage.dynamodb.keys import MSG_LOW, thread_key
from storage.dynamodb.schema import (
    NEIGHBOURS_NEXT,
    NEIGHBOURS_PREVIOUS,
    PENDING_EMBEDDINGS,
    STRUCTURE_VERSION,
    VECTOR_ATTRIBUTE,
)
from storage.validation import MAX_ID_LENGTH

RANGE = 2
"""Neighbours listed on each side: windows up to ``message_range`` 2 need no Query."""
PREVIOUS = NEIGHBOURS_PREVIOUS
NEXT = NEIGHBOURS_NEXT
VERSION = STRUCTURE_VERSION
CERTIFICATE = "nbc"
_FIRST_PAGE = 12  # the thread item, up to 7 new messages (a turn with tools) and 2 * RANGE below
_NEXT_PAGE = 200
_BYTES_MARGIN = 64 * 1024

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


# --- reading a thread for a refresh ----------------------------------------------------


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
    cert = certificate(thread)
    if cert is None or "tail" not in cert:
        return False, True
    added = get_n(thread, "message_count") - get_n(cert, "count")
    if added < 0 or thread_version(thread) - get_n(cert, "sv") != added:
        return False, True  # something was removed since the lists were exact
    tail = get_s(cert, "tail") or ""
    above = sum(1 for r in newest_first if r.sk > tail)
    if above > added:
        return False, True
    low = min([tail, *targets])
    below = sum(1 for r in newest_first if r.sk < low)
    if below < 2 * RANGE:
        return False, False
    # Read past the old tail: only appends since the certificate, or a full repair.
    return above == added, above != added


# --- planning the writes -----------------------------------------------------------------


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


def write_action(table: str, thread_id: str, write: ListWrite) -> dict[str, Any]:
    """The UpdateItem storing one item's lists (and vector)."""
    previous, following = list_values(write.previous, write.following)
    names = {"#p": PREVIOUS, "#n": NEXT}
    values: dict[str, Any] = {":p": previous, ":n": following}
    expression = "SET #p = :p, #n = :n"
    condition = "attribute_exists(pk)"
    if write.vector is not None:
        names["#vec"] = VECTOR_ATTRIBUTE
        values[":vec"] = write.vector
        values[":resource"] = s(write.resource_id or "")
        expression += ", #vec = :vec"
        # A message deleted or moved since it was embedded: skipped, never recreated.
        condition += " AND resource_id = :resource"
    return update(
        table,
        {"pk": s(f"THREAD#{thread_id}"), "sk": s(write.sk)},
        expression,
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def _unchanged(version: int) -> tuple[str, dict[str, Any]]:
    """The condition that the thread's structure version is still ``version``."""
    if version == 0:
        return "attribute_exists(pk) AND (attribute_not_exists(#sv) OR #sv = :sv)", {
            ":sv": {"N": "0"}
        }
    return "attribute_exists(pk) AND #sv = :sv", {":sv": {"N": str(version)}}


def certify_action(table: str, state: ThreadState, embedded: Iterable[str] = ()
                   ) -> dict[str, Any]:
    """The UpdateItem of the thread's certificate, conditional on ``sv`` unchanged.

    ``embedded``: ids of messages getting their vector in the same transaction; those
    marked for re-embedding leave the thread's ``pe`` set.
    """
    condition, values = _unchanged(state.version)
    cert: dict[str, Any] = {"sv": {"N": str(state.version)}, "count": {"N": str(state.count)}}
    if state.rows:
        cert["tail"] = s(state.rows[-1].sk)
    names = {"#c": CERTIFICATE, "#sv": VERSION}
    expression = "SET #c = :cert"
    done = sorted(state.pending.intersection(embedded))
    if done:
        names["#pe"] = PENDING_EMBEDDINGS
        values = {**values, ":done": {"SS": done}}
        expression += " DELETE #pe :done"
    return update(
        table,
        thread_key(state.thread_id),
        expression,
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={**values, ":cert": {"M": cert}},
    )


def check_action(table: str, state: ThreadState) -> dict[str, Any]:
    """A ConditionCheck that the thread's ``sv`` is unchanged (for a chunk without the
    certificate, when one thread's writes take more than one transaction)."""
    condition, values = _unchanged(state.version)
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": thread_key(state.thread_id),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#sv": VERSION},
            "ExpressionAttributeValues": values,
        }
    }


def transactions(
    first: list[dict[str, Any]],
    plans: list[tuple[ThreadState, list[dict[str, Any]]]],
    table: str,
) -> list[tuple[list[dict[str, Any]], set[str]]]:
    """Pack ``first`` and each thread's writes (its certificate last) into transactions.

    Several threads share a transaction while they fit (100 actions, 4 MB). A thread
    whose writes run over one transaction gets a ConditionCheck of its ``sv`` in each
    transaction but the last, which holds its certificate: every list it writes is
    exact for the same state, or the transaction is cancelled.

    Returns:
        (actions, the threads certified by them) per transaction, in order.
    """
    limit, room = TRANSACTION_ACTIONS, TRANSACTION_BYTES - _BYTES_MARGIN
    out: list[tuple[list[dict[str, Any]], set[str]]] = []
    current = list(first)
    size = sum(action_size(a) for a in current)
    checks: dict[str, dict[str, Any]] = {}  # threads with writes here but no certificate
    finished: set[str] = set()
    for state, actions in plans:
        check = check_action(table, state)
        for index, action in enumerate(actions):
            certificate = index == len(actions) - 1
            pending = dict(checks)
            if certificate:
                pending.pop(state.thread_id, None)
            else:
                pending[state.thread_id] = check
            needed = len(current) + 1 + len(pending)
            weight = size + action_size(action) + sum(action_size(c) for c in pending.values())
            if current and (needed > limit or weight > room):
                out.append(([*current, *checks.values()], finished))
                current, size, checks, finished = [], 0, {}, set()
            current.append(action)
            size += action_size(action)
            if certificate:
                checks.pop(state.thread_id, None)
                finished.add(state.thread_id)
            else:
                checks[state.thread_id] = check
    if current:
        out.append(([*current, *checks.values()], finished))
    return out


__all__ = [
    "CERTIFICATE",
    "NEXT",
    "PREVIOUS",
    "RANGE",
    "VERSION",
    "ListWrite",
    "Row",
    "ThreadState",
    "appended_since_certified",
    "certified",
    "certify_action",
    "check_action",
    "list_bytes",
    "lists_of",
    "plan",
    "read_thread",
    "transactions",
    "up_to_date",
    "write_action",
]
