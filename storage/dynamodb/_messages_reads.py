"""Reading messages: by id, a thread's pages, and ``include`` windows.

The newest page of a thread is one descending Query (the thread item sorts after its
messages and carries ``message_count``); a filtered page reads the time range, and a
count alone is a ``Select=COUNT`` Query. Windows around included messages are read by
``windows.BatchedWindows`` (neighbour lists, or two Queries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb._base import check_time, page_slice
from storage.dynamodb._messages_items import MessageItems
from storage.dynamodb.codec import get_n, get_s, get_time, s
from storage.dynamodb.keys import MSG_HIGH, MSG_LOW, thread_key
from storage.dynamodb.windows import BatchedWindows, Hints
from storage.protocols import Direction
from storage.records import Include, Message, Page, page_of


@dataclass(frozen=True)
class _Filter:
    """A filtered read of one thread: the time range (each end inclusive unless marked
    exclusive) and the resource its messages must belong to."""

    thread_id: str
    resource_id: str | None
    low: datetime | None
    high: datetime | None
    start_exclusive: bool
    end_exclusive: bool


class MessageReads(MessageItems):
    """Message reads; mixed into the memory store."""

    def get_messages(self, message_ids: Sequence[str]) -> list[Message]:
        """The messages with these ids, in the order asked; unknown ids skipped."""
        ids = v.check_ids(message_ids, "message id")
        if not ids:
            return []
        found = {m.id: m for m in self._load(self._locate(ids))}
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def list_messages(
        self,
        thread_id: str,
        *,
        resource_id: str | None = None,
        include: Sequence[Include] = (),
        start: Any = None,
        end: Any = None,
        start_exclusive: bool = False,
        end_exclusive: bool = False,
        page: int = 0,
        per_page: int | None = 40,
        direction: Direction = "asc",
    ) -> Page[Message]:
        """One page of a thread's messages plus ``include`` windows.

        The newest page, unfiltered, is one descending Query of ``per_page + 1`` items:
        the thread item sorts after its messages and carries ``message_count``.
        ``per_page=0`` reads no message of the thread: its total is the thread item's
        count, or a ``Select=COUNT`` Query when filtered. Windows: ``windows.py``.
        """
        v.check_id(thread_id, "thread id")
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        wanted = v.check_includes(include)
        low = check_time(start, "start")
        high = check_time(end, "end")
        v.check_paging(page, per_page)
        v.check_direction(direction)
        forward = direction == "asc"
        filtered = low is not None or high is not None or resource_id is not None
        where = _Filter(thread_id, resource_id, low, high, start_exclusive, end_exclusive)
        if per_page == 0 and filtered:
            chosen: list[Message] = []
            total = self._count(where)
        elif filtered or per_page is None:
            own = self._filtered(where)
            if not forward:
                own.reverse()
            total = len(own)
            chosen = page_slice(own, page, per_page)
        else:
            chosen, total = self._newest_or_oldest(thread_id, page, per_page, forward)
        by_id = {m.id: m for m in chosen}
        for m in self._windows().read(wanted, resource_id):
            by_id.setdefault(m.id, m)
        items = sorted(by_id.values(), key=lambda m: (m.created_at, m.id), reverse=not forward)
        return page_of(items, total=total, page=page, per_page=per_page)

    def get_windows(
        self, include: Sequence[Include], *, resource_id: str | None = None
    ) -> list[Message]:
        """The ``include`` windows alone, oldest first (see ``storage.dynamodb.windows``).

        What ``list_messages(..., include=include, per_page=0)`` adds to its page, with
        no page and no total to count: semantic recall's read. With ``resource_id``, an
        included message of another resource gives nothing, and windows keep only that
        resource's messages.
        """
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        return self._windows().read(v.check_includes(include), resource_id)

    _window_hints: Hints | None = None

    def _windows(self) -> BatchedWindows:
        return BatchedWindows(
            self.dynamo, self.table, self._record, self._locate, self._window_hints
        )

    def _newest_or_oldest(
        self, thread_id: str, page: int, per_page: int, forward: bool
    ) -> tuple[list[Message], int]:
        want = (page + 1) * per_page
        # Descending, the thread item (sk "THREAD") comes first and carries the count.
        items = self.dynamo.query_items(
            self.table,
            limit=want + (0 if forward else 1),
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": s(f"THREAD#{thread_id}"),
                ":lo": s(MSG_LOW),
                ":hi": s("THREAD"),
            },
            ScanIndexForward=forward,
            ConsistentRead=True,
        )
        thread = next((i for i in items if get_s(i, "sk") == "THREAD"), None)
        rows = [i for i in items if get_s(i, "sk") != "THREAD"]
        if thread is None and forward and len(rows) >= want:
            thread = self.dynamo.get(self.table, thread_key(thread_id))
        total = get_n(thread, "message_count") if thread is not None else len(rows)
        messages = [self._record(i) for i in page_slice(rows, page, per_page)]
        return messages, max(total, len(rows))

    def _filtered(self, where: _Filter) -> list[Message]:
        """Every message of the thread in the time range (ascending), all pages read."""
        low, high = where.low, where.high
        lo = MSG_LOW + (codec.sort_time(low) if low is not None else "")
        hi = MSG_LOW + codec.sort_time(high) + "$" if high is not None else MSG_HIGH
        items = self.dynamo.query_items(
            self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": s(f"THREAD#{where.thread_id}"),
                ":lo": s(lo),
                ":hi": s(hi),
            },
            ConsistentRead=True,
        )
        out = []
        for item in items:
            created = get_time(item, "created_at")
            if where.start_exclusive and low is not None and created == low:
                continue
            if where.end_exclusive and high is not None and created == high:
                continue
            if where.resource_id is not None and get_s(item, "resource_id") != where.resource_id:
                continue
            out.append(self._record(item))
        return out

    def _count(self, where: _Filter) -> int:
        """How many messages :meth:`_filtered` would return, without reading them back.

        A ``Select=COUNT`` Query: the bounds are key conditions (exclusive ones just
        past the bounding millisecond), the resource a filter.
        """
        lo = MSG_LOW
        if where.low is not None:
            lo += codec.sort_time(where.low) + ("$" if where.start_exclusive else "")
        hi = MSG_HIGH
        if where.high is not None:
            hi = MSG_LOW + codec.sort_time(where.high) + ("" if where.end_exclusive else "$")
        if lo > hi:
            return 0  # an empty range (DynamoDB refuses BETWEEN with low > high)
        params: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": s(f"THREAD#{where.thread_id}"), ":lo": s(lo), ":hi": s(hi),
            },
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        if where.resource_id is not None:
            params["FilterExpression"] = "resource_id = :r"
            params["ExpressionAttributeValues"][":r"] = s(where.resource_id)
        return sum(int(page.get("Count", 0)) for page in self.dynamo.query(self.table, **params))
