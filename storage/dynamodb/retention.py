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

``store.prune()`` is not needed here (TTL does the deleting) but works: it deletes at
once, through the same cascades, what TTL would delete later, including records
written before a retention was set (which carry no ``expires_at``). It reads the
time-ordered indexes (``all-threads`` by ``updated_at``, ``all-runs`` and ``all-scores``
by ``created_at``, ``roots`` by ``started_at``; never a Scan) and deletes each record
on a condition that it is still older than the cutoff. Spans are found through their
trace's root span: a child span whose root is younger waits for its TTL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.dynamodb import codec
from storage.dynamodb.codec import Item, get_n, get_s, s, sort_time
from storage.dynamodb.driver import TransactionCanceled, put
from storage.dynamodb.offload import Offloader
from storage.dynamodb.schema import TTL
from storage.errors import ConflictError, ValidationError
from storage.keys import thread_attachment_prefix
from storage.lifecycle.prune import check_batch
from storage.lifecycle.retention import Retention
from storage.timeutil import to_epoch_ms

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


def expired_thread(record: Mapping[str, Any], *, now: float | None = None) -> Item | None:
    """The old image of the thread item a TTL delete removed, else ``None``.

    Raises:
        ValidationError: a TTL delete of a thread item whose image is not one the
            table writes and TTL deletes (:func:`check_expired_image`): the record is
            reported failed and parked, never acted on.
    """
    if not is_ttl_delete(record):
        return None
    image = (record.get("dynamodb") or {}).get("OldImage")
    if not isinstance(image, dict) or get_s(image, "sk") != "THREAD":
        return None
    pk = get_s(image, "pk") or ""
    if not pk.startswith("THREAD#"):
        return None
    check_expired_image(image, time.time() if now is None else now)
    return image


CLOCK_SKEW_S = 300
"""How far past ``now`` an expired image's ``expires_at`` may be (clocks differ)."""


def check_expired_image(image: Item, now: float) -> None:
    """Refuse a thread image TTL cannot have deleted: the cascade trusts its fields.

    A thread item always holds its ``id`` (the key's), its ``resource_id``, its
    ``updated_at`` (epoch ms) and, to be expired, an ``expires_at`` (epoch s) already
    past, no earlier than its last write (the expiry is that write plus the age). A
    record missing any of these, or contradicting them, was not made by DynamoDB's TTL
    (a forged or hand-made event): acting on it could decrement another resource's
    thread count or delete a live thread's messages.

    Raises:
        ValidationError: naming what is wrong (ids only, no content).
    """
    thread_id = (get_s(image, "pk") or "").removeprefix("THREAD#")
    if get_s(image, "id") != thread_id:
        raise ValidationError(f"expiry record: the image's id is not its key's ({thread_id!r})")
    resource_id = get_s(image, "resource_id")
    if not resource_id or not resource_id.strip():
        raise ValidationError(f"expiry record: thread {thread_id!r} has no resource_id")
    for name in ("updated_at", TTL):
        if "N" not in (image.get(name) or {}):
            raise ValidationError(f"expiry record: thread {thread_id!r} has no {name}")
    expires_at, updated_at = get_n(image, TTL), get_n(image, "updated_at")
    if expires_at > now + CLOCK_SKEW_S:
        raise ValidationError(f"expiry record: thread {thread_id!r} expires only at {expires_at}")
    if updated_at > expires_at * 1000:
        raise ValidationError(
            f"expiry record: thread {thread_id!r} was written after its expiry")


PENDING_BLOBS = "PENDING#BLOBS"
"""The partition of pruned threads whose blobs are not deleted yet (one Query finds them)."""


def pending_blobs_key(thread_id: str) -> Item:
    """The record that a pruned thread's blobs are still to be deleted."""
    return {"pk": s(PENDING_BLOBS), "sk": s(thread_id)}


def pending_blobs_put(table: str, resource_id: str, thread_id: str) -> dict[str, Any]:
    """The transaction action recording it (with the thread's delete, so never without)."""
    return put(table, {**pending_blobs_key(thread_id), "resource_id": s(resource_id),
                       "thread_id": s(thread_id),
                       TTL: codec.n(int(time.time()) + TOMBSTONE_TTL_S * 10)})


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
        from storage.dynamodb.messages import thread_key
        from storage.dynamodb.threads import counter_update

        # The thread count is decremented once: with the tombstone, and only while the
        # thread is still gone (one recreated under the same id is left to its owner).
        first = [
            put(self.table, {**tombstone_key(thread_id, expires_at),
                             TTL: codec.n(int(time.time()) + TOMBSTONE_TTL_S)},
                "attribute_not_exists(pk)"),
            counter_update(self.table, resource_id, -1),
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
        from storage.dynamodb.messages import thread_key
        from storage.dynamodb.threads import counter_update

        try:
            self.dynamo.transact([
                put(self.table, {**tombstone_key(thread_id, expires_at),
                                 TTL: codec.n(int(time.time()) + TOMBSTONE_TTL_S)},
                    "attribute_not_exists(pk)"),
                counter_update(self.table, resource_id, -1),
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
            # The old thread item's own offloaded documents (a big title or metadata) too.
            self.offloader.blobs.delete([*refs, *Offloader.refs(image)])
            if get_s(self.dynamo.get(self.table, thread_key(thread_id)) or {}, "resource_id") \
                    != resource_id:
                self.offloader.blobs.delete_prefix(
                    thread_attachment_prefix(resource_id, thread_id)
                )
        return {"threads": counted, "messages": messages}


# --- prune: what TTL would delete later, now ------------------------------------------


def _oldest(domain: _Table, index: str, partition: tuple[str, str], sort_attr: str,
            before: datetime, limit: int) -> list[Item]:
    """The ``limit`` oldest items of an index partition whose sort key is before ``before``.

    Index sort keys are ``<16-digit time>#<id>``: one equal to ``before`` is not older.
    """
    items: list[Item] = domain.dynamo.query_items(
        domain.table,
        limit=limit,
        IndexName=index,
        KeyConditionExpression="#p = :p AND #s < :cut",
        ExpressionAttributeNames={"#p": partition[0], "#s": sort_attr},
        ExpressionAttributeValues={":p": s(partition[1]), ":cut": s(sort_time(before))},
        ScanIndexForward=True,
    )
    return items


def _delete_if_older(domain: _Table, key: Item, stamp: str, before: datetime) -> bool:
    """Delete one item if its ``stamp`` attribute is still before ``before``; its blobs too."""
    try:
        out = domain.dynamo.call(
            "DeleteItem",
            TableName=domain.table,
            Key=key,
            ConditionExpression=f"{stamp} < :cut",
            ExpressionAttributeValues={":cut": codec.n(to_epoch_ms(before))},
            ReturnValues="ALL_OLD",
        )
    except ConflictError:
        return False  # gone, or younger than it was when listed
    domain.offloader.discard(Offloader.refs(out.get("Attributes", {})))
    return "Attributes" in out


class _Table:
    dynamo: Dynamo
    table: str
    offloader: Offloader


class ThreadPruning(_Table):
    """``prune_batch`` for the memory table: idle threads, through ``delete_thread``'s cascade."""

    _delete_thread: Callable[..., int | None]
    _thread_blobs_deleted: Callable[..., None]

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the idlest threads idle since before ``before``."""
        from storage.dynamodb.threads import THREAD_SHARDS

        before = check_batch(before, limit)
        self._finish_pending_blobs()
        candidates: list[Item] = []
        for shard in range(THREAD_SHARDS):
            candidates += _oldest(self, "all-threads", ("all", f"THREAD#{shard:02d}"), "upd",
                                  before, limit)
        candidates.sort(key=lambda item: get_s(item, "upd") or "")
        threads = messages = 0
        for item in candidates[:limit]:
            gone = self._delete_thread(get_s(item, "id") or "",
                                       idle_before_ms=to_epoch_ms(before))
            if gone is not None:
                threads, messages = threads + 1, messages + gone
        return {"threads": threads, "messages": messages}


    def _finish_pending_blobs(self) -> None:
        """Delete the blobs an earlier prune failed to (its threads' items are gone)."""
        pending = self.dynamo.query_items(
            self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(PENDING_BLOBS)},
            ConsistentRead=True,
        )
        for item in pending:
            thread_id = get_s(item, "thread_id") or ""
            self._thread_blobs_deleted(get_s(item, "resource_id") or "", thread_id,
                                       offloaded=True)
            self.dynamo.call("DeleteItem", TableName=self.table, Key=pending_blobs_key(thread_id))


class RunPruning(_Table):
    """``prune_batch`` for the workflows table: runs created before ``before``."""

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest expired runs."""
        from storage.dynamodb.workflows import run_key

        before = check_batch(before, limit)
        doomed = _oldest(self, "all-runs", ("all", "RUN"), "crt", before, limit)
        return {"runs": sum(
            _delete_if_older(self, run_key(get_s(i, "workflow_name") or "",
                                           get_s(i, "run_id") or ""), "created_at", before)
            for i in doomed
        )}


class ScorePruning(_Table):
    """``prune_batch`` for the scores table: scores created before ``before``."""

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest expired scores."""
        from storage.dynamodb.scores import score_key

        before = check_batch(before, limit)
        doomed = _oldest(self, "all-scores", ("all", "SCORE"), "crt", before, limit)
        return {"scores": sum(
            _delete_if_older(self, score_key(get_s(i, "id") or ""), "created_at", before)
            for i in doomed
        )}


class SpanPruning(_Table):
    """``prune_batch`` for the observability table: spans started before ``before``."""

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete the expired spans of up to ``limit`` traces whose root expired."""
        before = check_batch(before, limit)
        roots = _oldest(self, "roots", ("all", "ROOT"), "started", before, limit)
        deleted = 0
        for root in roots:
            trace = get_s(root, "pk") or ""
            spans = self.dynamo.query_items(
                self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": s(trace)},
                ProjectionExpression="pk, sk, started_at",
                ConsistentRead=True,
            )
            for span in spans:
                if get_n(span, "started_at") < to_epoch_ms(before):
                    key = {"pk": span["pk"], "sk": span["sk"]}
                    deleted += _delete_if_older(self, key, "started_at", before)
        return {"spans": deleted}


__all__ = [
    "TOMBSTONE_TTL_S",
    "TTL_PRINCIPAL",
    "RetentionAware",
    "RunPruning",
    "ScorePruning",
    "SpanPruning",
    "ThreadExpiry",
    "ThreadPruning",
    "expired_thread",
    "is_ttl_delete",
    "tombstone_key",
]
