"""``DynamoDBMemoryStore``: threads, messages and resources in one table.

Item layout (``schema.MEMORY``): a thread and its messages share the partition
``THREAD#<id>``; messages sort by ``MSG#<created>#<id>`` and the thread item
(``sk=THREAD``) sorts after them, so "the last 20 messages and the total" is one
descending Query of 21 items. A per-resource counter item sorts first in a
descending Query of the by-resource indexes, so a page of threads carries its
``total`` with no second request. Messages are found by id through a locator item
(``MSGID#<id>``), read with strongly consistent GetItem/BatchGetItem.

The operations live by concern: :mod:`storage.dynamodb.threads`,
:mod:`storage.dynamodb.thread_cascade`, :mod:`storage.dynamodb.messages` and
:mod:`storage.dynamodb.resources`; this class composes them and keeps a vector store
in another place in step.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage import validation as v
from storage.dynamodb._base import DynamoDBDomain
from storage.dynamodb.messages import MessageOps
from storage.dynamodb.resources import ResourceOps
from storage.dynamodb.retention import RetentionAware, ThreadExpiry, ThreadPruning
from storage.dynamodb.thread_cascade import ThreadCascade
from storage.dynamodb.threads import (
    COUNTER_SORT,
    THREAD_DOCS,
    THREAD_SHARDS,
    ThreadOps,
    counter_key,
    counter_update,
    thread_from_item,
    thread_shard,
)
from storage.protocols import VectorStore
from storage.records import Message, MessageUpdate
from storage.vector_cascade import ForeignVectors

__all__ = [
    "COUNTER_SORT",
    "THREAD_DOCS",
    "THREAD_SHARDS",
    "DynamoDBMemoryStore",
    "counter_key",
    "counter_update",
    "thread_from_item",
    "thread_shard",
]


class DynamoDBMemoryStore(
    ThreadPruning,
    ThreadExpiry,
    RetentionAware,
    ThreadCascade,
    ThreadOps,
    MessageOps,
    ResourceOps,
    DynamoDBDomain,
):
    """Threads, messages and resources on DynamoDB (see :class:`~storage.protocols.MemoryStore`)."""

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

    def save_messages(
        self, messages: Sequence[Message], *, allow_move: bool = True
    ) -> list[Message]:
        """Upsert messages by id, all or nothing (see :meth:`MessageOps.save_messages`)."""
        # MessageOps checks each message; a lone one (which it would iterate) is refused here.
        batch = v.check_list_of(messages, Message, "save_messages")
        return super().save_messages(batch, allow_move=allow_move)

    def update_messages(self, updates: Sequence[MessageUpdate]) -> list[Message]:
        """Apply partial updates, all or nothing; bumps every thread touched."""
        updates = v.check_list_of(updates, MessageUpdate, "update_messages")
        if self._foreign_vectors is None:
            return super().update_messages(updates)
        previous = {m.id: m for m in self.get_messages([u.id for u in updates])}
        updated = super().update_messages(updates)
        self._foreign_vectors.messages_changed(previous, updated)
        return updated
