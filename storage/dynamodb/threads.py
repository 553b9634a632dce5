"""Thread operations of :class:`~storage.dynamodb.memory.DynamoDBMemoryStore`.

A thread item (``THREAD#<id>`` / ``THREAD``) sorts after its messages in its partition.
A per-resource counter item sorts first in a descending Query of the by-resource
indexes, so a page of threads carries its ``total`` with no second request. Title and
metadata are the thread's documents (``storage.dynamodb.documents``). Deleting a
thread is :mod:`storage.dynamodb.thread_cascade`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb._base import DynamoDBDomain, page_slice
from storage.dynamodb.codec import Item, get_n, get_s, get_time, ms, s, sort_key
from storage.dynamodb.documents import VERSION, Documents, DocumentWriter
from storage.dynamodb.driver import TransactionCanceled, update
from storage.dynamodb.keys import thread_key
from storage.dynamodb.schema import ALL, CRT, RES, UPD
from storage.errors import ConflictError, NotFoundError
from storage.protocols import Direction, OrderBy
from storage.records import Page, Thread, page_of
from storage.timeutil import utcnow

# Every turn rewrites a thread's index keys, so "every thread" is spread over shards:
# one partition for all threads would cap the whole table at one GSI partition's
# write rate. Listing every thread (an admin path) queries each shard.
THREAD_SHARDS = 16
COUNTER_SORT = "~"  # sorts after every "<16 digits>#id" index key: first in a desc Query
_INDEX = {"updated_at": "by-resource-updated", "created_at": "by-resource-created"}
_RETRIES = 5


def thread_shard(thread_id: str) -> str:
    """The ``all-threads`` partition a thread lives in (stable across processes)."""
    return f"THREAD#{zlib.crc32(thread_id.encode('utf-8')) % THREAD_SHARDS:02d}"


def counter_key(resource_id: str) -> Item:
    """The per-resource thread counter's key."""
    return {"pk": s(f"RES#{resource_id}"), "sk": s("COUNT")}


THREAD_DOCS = Documents(text="title", counters=("message_count",), domain="memory")
"""A thread's documents: its title and metadata (offloaded under ``offload/memory/<id>/``)."""


def thread_from_item(item: Item) -> Thread:
    """A thread item (documents resolved) as a record."""
    created = get_time(item, "created_at")
    updated = get_time(item, "updated_at")
    assert created is not None and updated is not None
    return Thread(
        id=get_s(item, "id") or "",
        resource_id=get_s(item, "resource_id") or "",
        title=get_s(item, "title"),
        metadata=codec.from_av(item.get("metadata", {"M": {}})),
        created_at=created,
        updated_at=updated,
    )


def _thread_item(thread: Thread) -> Item:
    """The thread item as stored (for sizing; writes go through an UpdateItem)."""
    item: Item = {
        **thread_key(thread.id),
        "id": s(thread.id),
        "resource_id": s(thread.resource_id),
        "metadata": codec.to_av(thread.metadata),
        "created_at": ms(thread.created_at),
        "updated_at": ms(thread.updated_at),
        "message_count": codec.n(10**12),  # the widest count it could hold
        "expires_at": codec.n(10**10),  # a TTL, when a retention stamps one
        RES: s(thread.resource_id),
        UPD: s(sort_key(thread.updated_at, thread.id)),
        CRT: s(sort_key(thread.created_at, thread.id)),
        ALL: s(thread_shard(thread.id)),
    }
    if thread.title is not None:
        item["title"] = s(thread.title)
    return item


def counter_update(table: str, resource_id: str, delta: int) -> dict[str, Any]:
    """The UpdateItem moving a resource's thread count by ``delta``."""
    return update(
        table,
        counter_key(resource_id),
        "ADD thread_count :d SET #res = :r, #upd = :c, #crt = :c",
        ExpressionAttributeNames={"#res": RES, "#upd": UPD, "#crt": CRT},
        ExpressionAttributeValues={
            ":d": codec.n(delta),
            ":r": s(resource_id),
            ":c": s(COUNTER_SORT),
        },
    )


class ThreadOps(DynamoDBDomain):
    """Get, save, update and list threads; mixed into the memory store."""

    # From RetentionAware: a thread's TTL (storage.dynamodb.retention).
    expiry: Callable[[str, datetime], Item]
    expiry_update: Callable[[str, datetime], tuple[str, str, dict[str, Any]]]

    @property
    def thread_docs(self) -> DocumentWriter:
        """Writes thread titles and metadata (in place, or whole and offloaded)."""
        return DocumentWriter(self.dynamo, self.table, self.offloader, THREAD_DOCS)

    def _thread(self, item: Item) -> Thread | None:
        """The record of a thread item read (``None`` if it was deleted meanwhile)."""
        key = thread_key(get_s(item, "id") or "")
        resolved = self.thread_docs.read(key, item)
        return thread_from_item(resolved) if resolved is not None else None

    def get_thread(self, thread_id: str) -> Thread | None:
        """The thread, or ``None`` (one strongly consistent GetItem)."""
        v.check_id(thread_id, "thread id")
        return self._thread_by_key(thread_id)

    def _thread_by_key(self, thread_id: str) -> Thread | None:
        item = self.thread_docs.read(thread_key(thread_id))
        return thread_from_item(item) if item is not None else None

    def save_thread(self, thread: Thread, *, if_absent: bool = False) -> Thread:
        """Create or replace a thread (its messages and their count are kept).

        With ``if_absent`` only the conditional create runs. A title or metadata that
        would take the item past the offload threshold is offloaded (``title_ref``,
        ``metadata_ref``), as :meth:`update_thread` does.

        Raises:
            ConflictError: ``if_absent`` and the id exists.
            ItemTooLargeError: too big for an item and no blob store (naming the
                larger of title and metadata).
        """
        v.check_thread(thread)
        item = _thread_item(thread)
        uploads, size = self.thread_docs.fit(item, thread.id, f"thread {thread.id!r}")
        names, values, expression = self._thread_fields(thread, item, size)
        try:
            old_refs = self._write_thread(thread, names, values, expression, if_absent)
        except BaseException:
            self.offloader.discard(uploads)
            raise
        self.offloader.discard(sorted(set(old_refs) - set(uploads)))
        return thread

    def _write_thread(
        self, thread: Thread, names: dict[str, str], values: dict[str, Any], expression: str,
        if_absent: bool,
    ) -> list[str]:
        """Create or replace the thread item; returns the blob URIs the replaced one held."""
        for _ in range(_RETRIES):
            # Fast path: a new thread, created with its resource's counter bump at once.
            try:
                self.dynamo.transact(
                    [
                        update(
                            self.table,
                            thread_key(thread.id),
                            expression,
                            ConditionExpression="attribute_not_exists(pk)",
                            ExpressionAttributeNames=names,
                            ExpressionAttributeValues=values,
                        ),
                        counter_update(self.table, thread.resource_id, 1),
                    ]
                )
                return []
            except TransactionCanceled as exc:
                if exc.reasons[:1] != ["ConditionalCheckFailed"]:
                    raise
                if if_absent:
                    raise ConflictError(f"thread {thread.id!r} already exists") from exc
            # It exists: replace it, moving it between resource counters if needed.
            current = self.dynamo.get(self.table, thread_key(thread.id))
            if current is None:
                continue
            old_resource = get_s(current, "resource_id") or ""
            actions = [
                update(
                    self.table,
                    thread_key(thread.id),
                    expression,
                    ConditionExpression="resource_id = :old_resource",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={**values, ":old_resource": s(old_resource)},
                )
            ]
            if old_resource != thread.resource_id:
                actions += [
                    counter_update(self.table, old_resource, -1),
                    counter_update(self.table, thread.resource_id, 1),
                ]
            try:
                self.dynamo.transact(actions)
                return self.thread_docs.refs(current)
            except TransactionCanceled as exc:
                if exc.reasons[:1] != ["ConditionalCheckFailed"]:
                    raise
        raise ConflictError(f"thread {thread.id!r} kept changing while being saved")

    def _thread_fields(
        self, thread: Thread, item: Item, size: int
    ) -> tuple[dict[str, str], dict[str, Any], str]:
        """The UpdateItem writing ``thread`` whole; its documents as fitted in ``item``."""
        names = {"#res": RES, "#upd": UPD, "#crt": CRT, "#all": ALL, "#dv": VERSION}
        values: dict[str, Any] = {
            ":id": s(thread.id),
            ":rid": s(thread.resource_id),
            ":ca": ms(thread.created_at),
            ":ua": ms(thread.updated_at),
            ":upd": s(sort_key(thread.updated_at, thread.id)),
            ":crt": s(sort_key(thread.created_at, thread.id)),
            ":all": s(thread_shard(thread.id)),
            ":zero": codec.n(0),
            ":one": codec.n(1),
        }
        expiry, unexpire, values_exp = self.expiry_update("threads", thread.updated_at)
        values.update(values_exp)
        sets = [
            "id = :id",
            "resource_id = :rid",
            "created_at = :ca",
            "updated_at = :ua",
            "#res = :rid",
            "#upd = :upd",
            "#crt = :crt",
            "#all = :all",
            "message_count = if_not_exists(message_count, :zero)",
            "#dv = if_not_exists(#dv, :zero) + :one",
        ]
        doc_sets, removes, doc_names, doc_values = self.thread_docs.assignments(item, size)
        names.update(doc_names)
        values.update(doc_values)
        expression = "SET " + ", ".join([*sets, *doc_sets]) + expiry
        removes = [*removes, *(["expires_at"] if unexpire else [])]
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        return names, values, expression

    def update_thread(
        self, thread_id: str, *, title: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Thread:
        """Set the title and merge ``metadata`` key by key server side; one UpdateItem.

        While the item provably fits, one conditional UpdateItem (one ``SET`` per key:
        concurrent merges of different keys never overwrite each other). When it may
        not, the thread is read, merged and written whole, its title or metadata
        offloaded like :meth:`save_thread` would (see ``storage.dynamodb.documents``).

        Raises:
            NotFoundError: no such thread.
            ItemTooLargeError: too big for an item and no blob store.
        """
        v.check_id(thread_id, "thread id")
        patch = v.check_thread_patch(title, metadata)
        now = utcnow()
        item = self.thread_docs.update(
            thread_key(thread_id),
            key_id=thread_id,
            what=f"thread {thread_id!r}",
            text=title,
            patch=patch,
            extra={
                "updated_at": ms(now), UPD: s(sort_key(now, thread_id)),
                **self.expiry("threads", now),
            },
            missing=lambda: NotFoundError(f"thread {thread_id!r} does not exist"),
        )
        thread = self._thread(item)
        if thread is None:
            raise NotFoundError(f"thread {thread_id!r} was deleted while being updated")
        return thread

    def list_threads(
        self,
        *,
        resource_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: OrderBy = "created_at",
        direction: Direction = "desc",
    ) -> Page[Thread]:
        """Threads of a resource (or all), filtered on top-level metadata equality.

        A resource's first pages, unfiltered, are one Query of ``(page+1)*per_page+1``
        items when descending (the counter item supplies ``total``); ascending adds a
        GetItem of the counter. Filters and "all threads" read every matching page.
        """
        wanted = v.check_thread_listing(
            resource_id, metadata, page, per_page, order_by, direction
        )
        forward = direction == "asc"
        index = _INDEX[order_by]
        if resource_id is not None and not wanted and per_page is not None:
            return self._resource_page(resource_id, index, page, per_page, forward)
        if resource_id is not None:
            items = self.dynamo.query_items(
                self.table,
                IndexName=index,
                KeyConditionExpression="#res = :r",
                ExpressionAttributeNames={"#res": RES},
                ExpressionAttributeValues={":r": s(resource_id)},
                ScanIndexForward=forward,
            )
        else:
            items = [
                item
                for shard in range(THREAD_SHARDS)
                for item in self.dynamo.query_items(
                    self.table,
                    IndexName="all-threads",
                    KeyConditionExpression="#all = :a",
                    ExpressionAttributeNames={"#all": ALL},
                    ExpressionAttributeValues={":a": s(f"THREAD#{shard:02d}")},
                )
            ]
        threads = [t for i in items if get_s(i, "sk") == "THREAD" and (t := self._thread(i))]
        threads = [
            t
            for t in threads
            if all(k in t.metadata and t.metadata[k] == x for k, x in wanted.items())
        ]
        threads.sort(key=lambda t: (getattr(t, order_by), t.id), reverse=not forward)
        return page_of(
            page_slice(threads, page, per_page), total=len(threads), page=page, per_page=per_page
        )

    def _resource_page(
        self, resource_id: str, index: str, page: int, per_page: int, forward: bool
    ) -> Page[Thread]:
        want = (page + 1) * per_page
        items = self.dynamo.query_items(
            self.table,
            limit=want + (0 if forward else 1),
            IndexName=index,
            KeyConditionExpression="#res = :r",
            ExpressionAttributeNames={"#res": RES},
            ExpressionAttributeValues={":r": s(resource_id)},
            ScanIndexForward=forward,
        )
        counter = next((i for i in items if get_s(i, "sk") == "COUNT"), None)
        threads = [t for i in items if get_s(i, "sk") == "THREAD" and (t := self._thread(i))]
        if counter is None and forward and len(threads) >= want:
            # Ascending, the counter sorts last: only a full read would reach it.
            counter = self.dynamo.get(self.table, counter_key(resource_id))
        total = get_n(counter, "thread_count") if counter is not None else len(threads)
        return page_of(
            page_slice(threads, page, per_page), total=max(total, 0), page=page, per_page=per_page
        )
