"""Deleting a thread of :class:`~storage.dynamodb.memory.DynamoDBMemoryStore` whole.

``delete_thread``, ``prune`` and the TTL expiry (``storage.dynamodb.retention``) share
this cascade: the thread item and its resource's counter first, then its messages and
their locators, then its blobs and the vectors kept in another store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb._base import DynamoDBDomain
from storage.dynamodb.codec import Item, get_n, get_s, s
from storage.dynamodb.driver import TransactionCanceled
from storage.dynamodb.keys import thread_key
from storage.dynamodb.offload import Offloader
from storage.dynamodb.retention import pending_blobs_key, pending_blobs_put
from storage.dynamodb.threads import counter_update
from storage.keys import offload_prefix, thread_attachment_prefix
from storage.vector_cascade import ForeignVectors


class ThreadCascade(DynamoDBDomain):
    """``delete_thread`` and the cascade behind it; mixed into the memory store."""

    _foreign_vectors: ForeignVectors | None = None
    # From MessageOps (storage.dynamodb.messages).
    _delete_message_actions: Callable[[str, str], list[dict[str, Any]]]
    _transact_in_chunks: Callable[[list[dict[str, Any]]], None]

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
            counter_update(self.table, resource_id, -1),
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
