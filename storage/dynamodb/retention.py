"""Retention on DynamoDB: TTL attributes stamped at write time, and the thread cascade.

DynamoDB deletes an item some time (typically within a few days) after the epoch
second in its ``expires_at`` attribute (``schema.TTL``; the tables' TTL reads it).
Every write stamps it from the store's :class:`~storage.lifecycle.Retention`, in the
request the write makes anyway, so retention costs no request:

* a thread: ``updated_at`` + ``threads``, refreshed by every write that bumps the
  thread (a turn's one ``TransactWriteItems`` already updates the thread item);
* a run: first save + ``runs``; a span: ``started_at`` + ``spans``; a score:
  ``created_at`` + ``scores``.

With no age for a domain the writes remove the attribute, so turning retention off
stops expiry for every record written after.

TTL deletes items one by one, so a thread's expiry must cascade: the table's stream
carries the TTL delete of the thread item (a ``REMOVE`` by ``dynamodb.amazonaws.com``)
to ``handlers.expiry``, which calls :meth:`ThreadExpiry.expire_thread` to delete what
was under it (messages with their vectors, locators, the resource's thread count,
attachments and offloaded objects) through the cascade ``delete_thread`` runs.
Stream records can arrive twice; the cascade is idempotent, and the thread count is
decremented once per expired thread (a tombstone item guards it).

``store.prune()`` deletes nothing here: DynamoDB's TTL does it (``prune`` reports the
domains as ``skipped``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.dynamodb import codec
from storage.dynamodb.codec import Item, get_n, get_s, s
from storage.dynamodb.driver import TransactionCanceled, put
from storage.dynamodb.offload import Offloader
from storage.dynamodb.schema import TTL
from storage.errors import ValidationError
from storage.keys import thread_attachment_prefix
from storage.lifecycle.retention import Retention

if TYPE_CHECKING:
    from storage.dynamodb.driver import Dynamo

log = logging.getLogger(__name__)

TTL_PRINCIPAL = "dynamodb.amazonaws.com"
"""``userIdentity.principalId`` of the stream records of TTL deletes."""
TOMBSTONE_TTL_S = 3 * 86_400
"""How long a tombstone outlives the thread it counts: longer than the stream keeps a
record (24 hours) and its retries, so a redelivered record finds it."""


class RetentionAware:
    """A DynamoDB domain that stamps ``expires_at`` from its retention."""

    retention: Retention = Retention()

    def attach_retention(self, retention: Retention) -> None:
        """Stamp records written from now on with ``retention``'s ages."""
        if not isinstance(retention, Retention):
            raise ValidationError(
                f"retention must be a Retention, got {type(retention).__name__}"
            )
        self.retention = retention

    def expiry(self, key: str, stamp: datetime) -> Item:
        """``{"expires_at": N}`` for a record of ``key`` stamped ``stamp`` (``{}``: none)."""
        expires = self.retention.expires_at(key, stamp)
        return {} if expires is None else {TTL: codec.n(expires)}

    def expiry_update(self, key: str, stamp: datetime) -> tuple[str, str, dict[str, Any]]:
        """The ``SET`` and ``REMOVE`` parts an UpdateItem adds for the expiry.

        Returns:
            ``(set_part, remove_part, values)``: ``", expires_at = :exp"`` and ``{":exp"}``
            with an age, else ``""`` and ``" REMOVE expires_at"``.
        """
        expires = self.retention.expires_at(key, stamp)
        if expires is None:
            return "", f" REMOVE {TTL}", {}
        return f", {TTL} = :exp", "", {":exp": codec.n(expires)}


def is_ttl_delete(record: Mapping[str, Any]) -> bool:
    """Whether a stream record is DynamoDB's TTL deleting an item (not a user's delete)."""
    identity = record.get("userIdentity") or {}
    return (
        record.get("eventName") == "REMOVE"
        and identity.get("type") == "Service"
        and identity.get("principalId") == TTL_PRINCIPAL
    )


def expired_thread(record: Mapping[str, Any]) -> Item | None:
    """The old image of the thread item a TTL delete removed, else ``None``."""
    if not is_ttl_delete(record):
        return None
    image = (record.get("dynamodb") or {}).get("OldImage")
    if not isinstance(image, dict) or get_s(image, "sk") != "THREAD":
        return None
    pk = get_s(image, "pk") or ""
    return image if pk.startswith("THREAD#") else None


def tombstone_key(thread_id: str, expires_at: int) -> Item:
    """Marks that the expiry of one incarnation of a thread was counted."""
    return {"pk": s(f"EXPIRED#{thread_id}"), "sk": s(str(expires_at))}


class ThreadExpiry:
    """The cascade of a thread item DynamoDB's TTL deleted (mixed into the memory store)."""

    dynamo: Dynamo
    table: str
    _delete_thread_items: Callable[..., tuple[int, list[str]]]
    _thread_blobs_deleted: Callable[..., None]
    offloader: Offloader

    def expire_thread(self, image: Item) -> dict[str, int]:
        """Delete what was under an expired thread item; idempotent.

        Args:
            image: the thread item as it was (the stream record's ``OldImage``).

        Returns:
            Counts: ``threads`` (1 the first time this expiry is seen, else 0) and
            ``messages`` deleted.
        """
        thread_id = get_s(image, "id") or (get_s(image, "pk") or "").removeprefix("THREAD#")
        resource_id = get_s(image, "resource_id") or ""
        expires_at = get_n(image, TTL)
        from storage.dynamodb.memory import _counter_update
        from storage.dynamodb.messages import thread_key

        # The thread count is decremented once: with the tombstone, and only while the
        # thread is still gone (one recreated under the same id is left to its owner).
        first = [
            put(self.table, {**tombstone_key(thread_id, expires_at),
                             TTL: codec.n(int(time.time()) + TOMBSTONE_TTL_S)},
                "attribute_not_exists(pk)"),
            _counter_update(self.table, resource_id, -1),
            {"ConditionCheck": {"TableName": self.table, "Key": thread_key(thread_id),
                                "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
        counted = 1
        try:
            self.dynamo.transact(first)
        except TransactionCanceled as exc:
            if exc.reasons[:1] == ["ConditionalCheckFailed"]:
                counted = 0  # a redelivered record: counted already
            elif exc.reasons[2:3] == ["ConditionalCheckFailed"]:
                log.warning("expiry: thread=%s was recreated; its new messages are kept",
                            thread_id)
                return self._expire_recreated(image, thread_id, resource_id, expires_at)
            else:
                raise
        messages, _ = self._delete_thread_items(thread_id)
        self._thread_blobs_deleted(resource_id, thread_id, offloaded=True)
        log.info("expiry: thread=%s messages=%s counted=%s", thread_id, messages, counted)
        return {"threads": counted, "messages": messages}

    def _expire_recreated(
        self, image: Item, thread_id: str, resource_id: str,
        expires_at: int,
    ) -> dict[str, int]:
        """A thread recreated under the id of an expired one: only its old messages go."""
        from storage.dynamodb.memory import _counter_update
        from storage.dynamodb.messages import thread_key

        try:
            self.dynamo.transact([
                put(self.table, {**tombstone_key(thread_id, expires_at),
                                 TTL: codec.n(int(time.time()) + TOMBSTONE_TTL_S)},
                    "attribute_not_exists(pk)"),
                _counter_update(self.table, resource_id, -1),
            ])
            counted = 1
        except TransactionCanceled as exc:
            if exc.reasons[:1] != ["ConditionalCheckFailed"]:
                raise
            counted = 0
        last = get_n(image, "updated_at")
        messages, refs = self._delete_thread_items(thread_id, written_until=last)
        # The blobs the new incarnation may share stay: only the old messages' offloaded
        # contents go, and the old owner's attachments if the id changed hands.
        if self.offloader.blobs is not None:
            self.offloader.blobs.delete(refs)
            if get_s(self.dynamo.get(self.table, thread_key(thread_id)) or {}, "resource_id") \
                    != resource_id:
                self.offloader.blobs.delete_prefix(
                    thread_attachment_prefix(resource_id, thread_id)
                )
        return {"threads": counted, "messages": messages}


__all__ = [
    "TOMBSTONE_TTL_S",
    "TTL_PRINCIPAL",
    "RetentionAware",
    "ThreadExpiry",
    "expired_thread",
    "is_ttl_delete",
    "tombstone_key",
]
