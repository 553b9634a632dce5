"""Include windows on DynamoDB: every window of a call in one BatchGetItem when it can be.

An include is a message and ``with_previous`` / ``with_next`` neighbours from its own
thread. The reader resolves all of a call's includes together, in rounds of one batch
each, and only the windows it cannot prove exact fall back to the two Queries:

1. **Where.** A message found by a vector search moments ago is in :class:`Hints`
   (its thread, sort key and, when the vector index projects them, its neighbour
   lists: see ``neighbours.py``); the others' locators are read in one BatchGetItem.
2. **Read.** One BatchGetItem of every window's thread item, included message and the
   hinted neighbours' keys.
3. **Tail.** A thread that is not certified but only had messages added since (the
   last turn's embed job has not run yet) gets one Query of its newest messages: if
   they all sort after the certified tail, the lists still hold, and a next-list that
   ended at that tail goes on into them.
4. **Complete.** When an included message's own lists (read in 2, strongly consistent)
   name keys not read yet (no hint, or the index projection lagging), one more.
5. **Assemble.** A window is exact when its thread is certified (no message added or
   removed since its lists were made exact) or passed 3, ``with_previous`` and
   ``with_next`` are at most ``neighbours.RANGE`` and every listed neighbour it needs
   was found. Otherwise it is read as before: a Query back from the message and one
   forward.

So the windows of a search's matches cost one request when the threads are certified
(the embed job certifies a thread after each turn), one Query more per thread whose
last turn is not embedded yet, three without hints, and two Queries per window in a
thread changed otherwise (a delete, a move, a message saved out of order: the next
embed job there repairs the lists). Hints are only ever a guess: each one is checked
against what is read (a hinted item that is gone is looked up again), so a stale or
wrong hint costs a request, never a wrong window.

With ``resource_id``, an included message of another resource gives nothing and a
window keeps only that resource's messages (before their offloaded content is read).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from storage.dynamodb import neighbours
from storage.dynamodb.codec import Item, get_s, s
from storage.dynamodb.driver import Dynamo
from storage.dynamodb.keys import MSG_HIGH, MSG_LOW, Location, message_key, thread_key
from storage.records import Include, Message

_HINTS = 4096
_MAX_APPENDED = 20  # more messages since the lists were exact: read the windows instead


@dataclass(frozen=True)
class Hint:
    """Where a message was seen, and its neighbour lists then (``None``: not known)."""

    thread_id: str
    sk: str
    previous: tuple[str, ...] | None = None
    following: tuple[str, ...] | None = None


class Hints:
    """The last few thousand messages a vector search returned (thread safe, bounded)."""

    def __init__(self, capacity: int = _HINTS) -> None:
        self._capacity = capacity
        self._hints: OrderedDict[str, Hint] = OrderedDict()
        self._lock = threading.Lock()

    def note(self, message_id: str, hint: Hint) -> None:
        """Remember where ``message_id`` was seen."""
        with self._lock:
            self._hints[message_id] = hint
            self._hints.move_to_end(message_id)
            while len(self._hints) > self._capacity:
                self._hints.popitem(last=False)

    def get(self, message_id: str) -> Hint | None:
        """Where ``message_id`` was last seen, or ``None``."""
        with self._lock:
            return self._hints.get(message_id)

    def forget(self, message_id: str) -> None:
        """Drop a hint that proved wrong."""
        with self._lock:
            self._hints.pop(message_id, None)


def _key_id(key: Item) -> tuple[str, str]:
    return (get_s(key, "pk") or "", get_s(key, "sk") or "")


class BatchedWindows:
    """Reads include windows (see the module docstring).

    Args:
        dynamo: the client.
        table: the memory table.
        decode: turns a message item into a record (resolving offloaded content).
        locate: message ids -> where they live (one BatchGetItem of locators).
        hints: what the vector search saw, or ``None``.
    """

    def __init__(
        self,
        dynamo: Dynamo,
        table: str,
        decode: Callable[[Item], Message],
        locate: Callable[[Sequence[str]], dict[str, Location]],
        hints: Hints | None = None,
    ) -> None:
        self.dynamo = dynamo
        self.table = table
        self.decode = decode
        self.locate = locate
        self.hints = hints

    def read(self, includes: Sequence[Include], resource_id: str | None = None) -> list[Message]:
        """The union of the windows, deduplicated, oldest first."""
        if not includes:
            return []
        where = self._where(includes)
        items: dict[tuple[str, str], Item | None] = {}  # None: read, and not there
        self._fetch(items, [k for inc in includes for k in self._first_keys(inc, where)])
        gone = list(dict.fromkeys(
            inc.id for inc in includes
            if inc.id in where and items.get(_key_id(self._match_key(where[inc.id]))) is None))
        if gone:
            # Hinted where it no longer is (moved, re-timed, deleted): ask the locators.
            for message_id in gone:
                if self.hints is not None:
                    self.hints.forget(message_id)
                where.pop(message_id, None)
            found = self.locate(gone)
            where.update({i: Hint(t, k) for i, (t, k) in found.items()})
            self._fetch(items, [key for i in found for key in (
                thread_key(where[i].thread_id), self._match_key(where[i]))])
        views = self._views(includes, where, items)
        self._fetch(items, [k for inc in includes
                            for k in self._listed_keys(inc, where, items, views)])
        decoded: dict[tuple[str, str], Message] = {}
        out: dict[str, Message] = {}
        for inc in includes:
            hint = where.get(inc.id)
            if hint is None:
                continue  # unknown id: ignored
            rows = self._assembled(inc, hint, items, views.get(hint.thread_id))
            if rows is None:
                rows = self._queried(inc, hint)
            for item in _bounded(rows, hint.sk, resource_id):
                key = _key_id(item)
                if key not in decoded:
                    decoded[key] = self.decode(item)
                out.setdefault(decoded[key].id, decoded[key])
        return sorted(out.values(), key=lambda m: (m.created_at, m.id))

    # --- rounds -------------------------------------------------------------------------

    def _where(self, includes: Sequence[Include]) -> dict[str, Hint]:
        where: dict[str, Hint] = {}
        for inc in includes:
            hint = self.hints.get(inc.id) if self.hints is not None else None
            if hint is not None:
                where[inc.id] = hint
        unknown = list(dict.fromkeys(inc.id for inc in includes if inc.id not in where))
        if unknown:
            where.update({i: Hint(t, k) for i, (t, k) in self.locate(unknown).items()})
        return where

    def _first_keys(self, inc: Include, where: dict[str, Hint]) -> list[Item]:
        hint = where.get(inc.id)
        if hint is None:
            return []
        keys = [thread_key(hint.thread_id), self._match_key(hint)]
        if _fits(inc) and hint.previous is not None and hint.following is not None:
            keys += [message_key(hint.thread_id, k) for k in (
                *hint.previous[: inc.with_previous], *hint.following[: inc.with_next])]
        return keys

    def _views(self, includes: Sequence[Include], where: dict[str, Hint],
               items: dict[tuple[str, str], Item | None]) -> dict[str, _View]:
        """How far each included message's thread can be trusted (see :class:`_View`).

        A thread that only had messages appended since its lists were made exact (the
        embed job of the last turn has not run yet) costs one Query of its newest
        messages, which shows whether they all came after the certified tail.
        """
        views: dict[str, _View] = {}
        seen: set[str] = set()
        for inc in includes:
            hint = where.get(inc.id)
            if hint is None or not _fits(inc) or hint.thread_id in seen:
                continue
            seen.add(hint.thread_id)
            thread = items.get(_key_id(thread_key(hint.thread_id)))
            if thread is None:
                continue
            if neighbours.certified(thread):
                views[hint.thread_id] = _View(tail=None)
                continue
            since = neighbours.appended_since_certified(thread)
            if since is None or not 0 < since[1] <= _MAX_APPENDED:
                continue
            tail, added = since
            newest = self.dynamo.query_items(
                self.table,
                limit=added + 1,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={
                    ":pk": s(f"THREAD#{hint.thread_id}"), ":lo": s(MSG_LOW), ":hi": s(MSG_HIGH),
                },
                ScanIndexForward=False,
                ConsistentRead=True,
            )
            appended = [i for i in newest if (get_s(i, "sk") or "") > tail]
            if len(appended) != added:
                continue  # something landed before the tail, or more came: not a guide
            for item in appended:
                items[_key_id(item)] = item
            views[hint.thread_id] = _View(
                tail=tail, appended=tuple(get_s(i, "sk") or "" for i in reversed(appended)))
        return views

    def _listed_keys(self, inc: Include, where: dict[str, Hint],
                     items: dict[tuple[str, str], Item | None],
                     views: dict[str, _View]) -> list[Item]:
        """Neighbour keys the included message's own lists name that were not read."""
        hint = where.get(inc.id)
        if hint is None or not _fits(inc) or hint.thread_id not in views:
            return []
        match = items.get(_key_id(self._match_key(hint)))
        lists = neighbours.lists_of(match) if match is not None else None
        if lists is None:
            return []
        needed = (*lists[0][: inc.with_previous], *lists[1][: inc.with_next])
        keys = [message_key(hint.thread_id, k) for k in needed]
        return [k for k in keys if _key_id(k) not in items]

    def _assembled(self, inc: Include, hint: Hint, items: dict[tuple[str, str], Item | None],
                   view: _View | None) -> list[Item] | None:
        """The window from what was read, or ``None`` when it cannot be proved exact."""
        if not _fits(inc) or view is None:
            return None
        match = items.get(_key_id(self._match_key(hint)))
        lists = neighbours.lists_of(match) if match is not None else None
        if match is None or lists is None:
            return None  # gone, or re-saved since it was embedded (lists go with the vector)
        before, after = lists
        if view.tail is not None:
            # Exact as of the certificate; since then messages were only appended.
            if hint.sk > view.tail or any(k > view.tail for k in (*before, *after)):
                return None
            if len(after) < neighbours.RANGE:
                after = (*after, *view.appended)  # the thread went on after its tail
        previous = [items.get(_key_id(message_key(hint.thread_id, k)))
                    for k in before[: inc.with_previous]]
        following = [items.get(_key_id(message_key(hint.thread_id, k)))
                     for k in after[: inc.with_next]]
        rows = [*reversed(previous), match, *following]
        if any(row is None for row in rows):
            return None  # a neighbour went (a TTL expiry, a race): read it the long way
        return [row for row in rows if row is not None]

    def _queried(self, inc: Include, hint: Hint) -> list[Item]:
        """The window by two Queries around the message (strongly consistent)."""
        pk = s(f"THREAD#{hint.thread_id}")
        before = self.dynamo.query_items(
            self.table,
            limit=inc.with_previous + 1,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":pk": pk, ":lo": s(MSG_LOW), ":hi": s(hint.sk)},
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        if not before or get_s(before[0], "sk") != hint.sk:
            return []  # deleted meanwhile
        after = self.dynamo.query_items(
            self.table,
            limit=inc.with_next + 1 if inc.with_next else 0,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":pk": pk, ":lo": s(hint.sk), ":hi": s(MSG_HIGH)},
            ConsistentRead=True,
        )
        return list(reversed(before)) + [i for i in after if get_s(i, "sk") != hint.sk]

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _match_key(hint: Hint) -> Item:
        return message_key(hint.thread_id, hint.sk)

    def _fetch(self, items: dict[tuple[str, str], Item | None], keys: list[Item]) -> None:
        """Read the keys not read yet; a key read and not found is recorded as ``None``."""
        wanted = {_key_id(k): k for k in keys if _key_id(k) not in items}
        if wanted:
            items.update(dict.fromkeys(wanted))
            for item in self.dynamo.batch_get(self.table, list(wanted.values())):
                items[_key_id(item)] = item


@dataclass(frozen=True)
class _View:
    """What a read learnt about one thread's lists.

    Attributes:
        tail: ``None``: the thread is certified (every list exact). Else the certified
            tail, after which only ``appended`` (sort keys, oldest first) were added.
    """

    tail: str | None
    appended: tuple[str, ...] = ()


def _fits(inc: Include) -> bool:
    return inc.with_previous <= neighbours.RANGE and inc.with_next <= neighbours.RANGE


def _bounded(rows: list[Item], sk: str, resource_id: str | None) -> list[Item]:
    """``rows`` kept to ``resource_id``'s; nothing when the included message is another's."""
    if resource_id is None:
        return rows
    if not any(get_s(r, "sk") == sk and get_s(r, "resource_id") == resource_id for r in rows):
        return []
    return [r for r in rows if get_s(r, "resource_id") == resource_id]


__all__ = ["BatchedWindows", "Hint", "Hints"]
