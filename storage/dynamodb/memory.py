"""``DynamoDBMemoryStore``: threads, messages and resources in one table.

Item layout (``schema.MEMORY``): a thread and its messages share the partition
``THREAD#<id>``; messages sort by ``MSG#<created>#<id>`` and the thread item
(``sk=THREAD``) sorts after them, so "the last 20 messages and the total" is one
descending Query of 21 items. A per-resource counter item sorts first in a
descending Query of the by-resource indexes, so a page of threads carries its
``total`` with no second request. Messages are found by id through a locator item
(``MSGID#<id>``), read with strongly consistent GetItem/BatchGetItem.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb._base import DynamoDBDomain, page_slice
from storage.dynamodb.codec import Item, get_n, get_s, get_time, ms, s, sort_key
from storage.dynamodb.documents import VERSION, Documents, DocumentWriter
from storage.dynamodb.driver import TransactionCanceled, update
from storage.dynamodb.messages import MessageOps, thread_key
from storage.dynamodb.offload import Offloader
from storage.dynamodb.resources import ResourceOps
from storage.dynamodb.retention import (
    RetentionAware,
    ThreadExpiry,
    ThreadPruning,
    pending_blobs_key,
    pending_blobs_put,
)
from storage.dynamodb.schema import ALL, CRT, RES, UPD
from storage.errors import ConflictError, NotFoundError, ValidationError
from storage.keys import offload_prefix, thread_attachment_prefix
from storage.protocols import Direction, OrderBy, VectorStore
from storage.records import Message, MessageUpdate, Page, Thread, page_of
from storage.timeutil import utcnow
from storage.vector_cascade import ForeignVectors

log = logging.getLogger(__name__)

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


def _counter_update(table: str, resource_id: str, delta: int) -> dict[str, Any]:
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


class DynamoDBMemoryStore(
    ThreadPruning, ThreadExpiry, RetentionAware, MessageOps, ResourceOps, DynamoDBDomain
):
    """Threads, messages and resources on DynamoDB (see :class:`~storage.protocols.MemoryStore`)."""

    @property
    def thread_docs(self) -> DocumentWriter:
        """Writes thread titles and metadata (in place, or whole and offloaded)."""
        return DocumentWriter(self.dynamo, self.table, self.offloader, THREAD_DOCS)

    def _thread(self, item: Item) -> Thread | None:
        """The record of a thread item read (``None`` if it was deleted meanwhile)."""
        key = thread_key(get_s(item, "id") or "")
        resolved = self.thread_docs.read(key, item)
        return thread_from_item(resolved) if resolved is not None else None

    # --- threads ------------------------------------------------------------------

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
        if not isinstance(thread, Thread):
            raise ValidationError(f"expected a Thread, got {type(thread).__name__}")
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
                        _counter_update(self.table, thread.resource_id, 1),
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
                    _counter_update(self.table, old_resource, -1),
                    _counter_update(self.table, thread.resource_id, 1),
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
        if title is not None:
            if not isinstance(title, str):
                raise ValidationError("thread title must be a string or None")
            v.check_json(title, "thread title")
        patch = v.check_metadata(metadata, "thread metadata") if metadata is not None else {}
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

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread, its messages and their blobs.

        One Query reads the partition (keys only), then TransactWriteItems of up to
        100 deletes each: the thread and its counter go in the first, so a turn racing
        the delete fails instead of writing into a deleted thread.
        """
        v.check_id(thread_id, "thread id")
        self._delete_thread(thread_id)

    def _delete_thread(self, thread_id: str, *, idle_before_ms: int | None = None) -> int | None:
        """The thread cascade (``delete_thread``, and ``prune`` with ``idle_before_ms``).

        For ``prune``, the first transaction also records the thread's blobs as pending
        (``retention.pending_blobs_put``), so a failure before they are deleted is
        finished by the next prune; the record goes once they are.

        Returns:
            How many messages went, or ``None`` when the thread is missing (or, with
            ``idle_before_ms``, was written at or after it: a turn revived it).
        """
        items = self._thread_partition(thread_id)
        thread_item = next((i for i in items if get_s(i, "sk") == "THREAD"), None)
        if thread_item is None:
            return None
        resource_id = get_s(thread_item, "resource_id") or ""
        messages = [i for i in items if (get_s(i, "sk") or "").startswith("MSG#")]
        delete: dict[str, Any] = {
            "TableName": self.table,
            "Key": thread_key(thread_id),
            "ConditionExpression": "attribute_exists(pk)",
        }
        if idle_before_ms is not None:
            delete["ConditionExpression"] += " AND updated_at < :idle"
            delete["ExpressionAttributeValues"] = {":idle": codec.n(idle_before_ms)}
        actions: list[dict[str, Any]] = [
            {"Delete": delete},
            _counter_update(self.table, resource_id, -1),
        ]
        offloaded = any(Offloader.refs(i) for i in items)
        # A pending record makes a failure before the blobs go finish later (the next
        # prune, or delete_resource): prune always; delete_thread when objects were
        # offloaded under the thread (attachments are under the resource's prefix).
        pending = self.blobs is not None and (idle_before_ms is not None or offloaded)
        if pending:
            actions.append(pending_blobs_put(self.table, resource_id, thread_id))
        for item in messages:
            actions += self._delete_message_actions(thread_id, get_s(item, "sk") or "")
        try:
            self._transact_in_chunks(actions)
        except TransactionCanceled as exc:
            if exc.reasons[:1] == ["ConditionalCheckFailed"]:
                return None  # deleted concurrently, or written to since
            raise
        self._thread_blobs_deleted(resource_id, thread_id, offloaded=offloaded)
        if pending:
            self.dynamo.call("DeleteItem", TableName=self.table, Key=pending_blobs_key(thread_id))
        return len(messages)

    def _thread_partition(self, thread_id: str) -> list[Item]:
        """Every item of a thread's partition (keys and what the cascade needs)."""
        return self.dynamo.query_items(
            self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(f"THREAD#{thread_id}")},
            ProjectionExpression=(
                "sk, resource_id, content_ref, title_ref, metadata_ref, created_at"
            ),
            ConsistentRead=True,
        )

    def _delete_thread_items(
        self, thread_id: str, *, written_until: int | None = None
    ) -> tuple[int, list[str]]:
        """Delete a thread's messages and locators (its item is gone: the expiry cascade).

        Args:
            written_until: only messages created at or before this epoch ms (a thread
                recreated under the id keeps its new ones).

        Returns:
            How many messages went, and the blobs their offloaded contents were in.
        """
        messages = [
            i for i in self._thread_partition(thread_id)
            if (get_s(i, "sk") or "").startswith("MSG#")
            and (written_until is None or get_n(i, "created_at") <= written_until)
        ]
        actions: list[dict[str, Any]] = []
        for item in messages:
            actions += self._delete_message_actions(thread_id, get_s(item, "sk") or "")
        self._transact_in_chunks(actions)
        return len(messages), [ref for item in messages for ref in Offloader.refs(item)]

    def _thread_blobs_deleted(self, resource_id: str, thread_id: str, *, offloaded: bool) -> None:
        """After a thread's items: its attachments, offloaded objects (if any) and the
        vectors of its messages kept in another store."""
        if self.blobs is not None:
            self.blobs.delete_prefix(thread_attachment_prefix(resource_id, thread_id))
            if offloaded:
                self.blobs.delete_prefix(offload_prefix("memory", thread_id))
        if self._foreign_vectors is not None:
            self._foreign_vectors.thread_deleted(thread_id)

    # --- vectors ------------------------------------------------------------------

    _foreign_vectors: ForeignVectors | None = None

    def attach_vectors(self, vectors: VectorStore | None) -> None:
        """Keep ``vectors`` in step: this table's vectors live on the message items
        (a delete or a rewrite takes them along); another store is told after each write.
        """
        beside = getattr(vectors, "table", None) == self.table and (
            getattr(vectors, "dynamo", None) is self.dynamo
        )
        # Where its searches found messages: include windows start from there.
        self._window_hints = getattr(vectors, "hints", None) if beside else None
        self._marks_reembedding = beside and vectors is not None
        self._foreign_vectors = None if beside or vectors is None else ForeignVectors()
        if self._foreign_vectors is not None:
            self._foreign_vectors.attach(vectors, beside=False)

    def _rewritten(self, message_ids: list[str]) -> None:
        # A re-saved message item is replaced whole, which drops a vector kept on it;
        # one kept in another store goes the same way.
        if self._foreign_vectors is not None and message_ids:
            self._foreign_vectors.messages_deleted(message_ids)

    def delete_messages(self, message_ids: Sequence[str]) -> None:
        """Delete messages; unknown ids are ignored; bumps the threads they were in."""
        super().delete_messages(message_ids)
        if self._foreign_vectors is not None:
            self._foreign_vectors.messages_deleted(list(message_ids))

    def update_messages(self, updates: Sequence[MessageUpdate]) -> list[Message]:
        """Apply partial updates, all or nothing; bumps every thread touched."""
        if self._foreign_vectors is None:
            return super().update_messages(updates)
        previous = {m.id: m for m in self.get_messages([u.id for u in updates])}
        updated = super().update_messages(updates)
        self._foreign_vectors.messages_changed(previous, updated)
        return updated

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
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        wanted = v.check_metadata(metadata, "metadata filter") if metadata is not None else {}
        v.check_paging(page, per_page)
        v.check_sort(order_by, direction)
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
