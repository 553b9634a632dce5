"""How a memory domain keeps a vector store that lives elsewhere in step with its messages.

When vectors live beside the messages (the same SQLite file, PostgreSQL database or
DynamoDB table), the backend cascades itself, inside the write: triggers on the SQL
tables, the vector being an attribute of the DynamoDB message item. When they live
in another store (``CompositeStore(memory=dynamodb, vectors=postgres)``), the memory
domain tells that store after its own write commits, as it does for blobs: a failure
then leaves an orphan vector, never a message without the vector it should have lost;
an orphan cannot leak anything, because recall reads messages through the memory
domain, bounded to the resource.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from storage.protocols import VectorStore
from storage.records import Message

log = logging.getLogger(__name__)


def changed_for_vectors(before: Message, after: Message) -> bool:
    """Whether a message's vector no longer describes it (content, thread, resource, time)."""
    return (
        before.content != after.content
        or before.thread_id != after.thread_id
        or before.resource_id != after.resource_id
        or before.created_at != after.created_at
    )


class ForeignVectors:
    """The vector store a memory domain notifies after its writes, or nobody."""

    def __init__(self) -> None:
        self.store: VectorStore | None = None

    def attach(self, vectors: VectorStore | None, *, beside: bool) -> None:
        """Notify ``vectors`` from now on, unless it lives ``beside`` the messages."""
        self.store = None if beside else vectors

    def messages_deleted(self, message_ids: Sequence[str]) -> None:
        """These messages are gone."""
        if self.store is not None and message_ids:
            self.store.delete(list(message_ids))

    def thread_deleted(self, thread_id: str) -> None:
        """This thread and its messages are gone."""
        if self.store is not None:
            self.store.delete_thread(thread_id)

    def messages_changed(
        self, before: Mapping[str, Message], after: Iterable[Message]
    ) -> None:
        """Drop the vectors of the messages whose content, thread, resource or time changed."""
        if self.store is None:
            return
        stale = [
            m.id for m in after if m.id in before and changed_for_vectors(before[m.id], m)
        ]
        if stale:
            self.store.delete(stale)


__all__ = ["ForeignVectors", "changed_for_vectors"]
