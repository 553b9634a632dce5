"""What a domain may do beyond its protocol; callers check with ``isinstance``
where the protocol is ``runtime_checkable``.

Part of :mod:`storage.protocols` (the contract; import the names from there)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from storage.protocols.blobs import BlobStore
from storage.protocols.vectors import VectorStore
from storage.records import Include, Message


class BlobAware(Protocol):
    """A domain that offloads to (or cleans up in) a blob store it is handed."""

    def attach_blobs(self, blobs: BlobStore | None) -> None:
        """Use ``blobs`` for offloaded attributes and attachment clean-up."""
        ...


@runtime_checkable
class WindowReader(Protocol):
    """A memory domain that reads ``include`` windows without a page (semantic recall).

    ``list_messages(..., include=..., per_page=0)`` also counts the thread's messages
    for ``total``; where that costs a read of its own (DynamoDB), recall asks for the
    windows alone. memory:// and DynamoDB have it; callers fall back to
    ``list_messages`` elsewhere.
    """

    def get_windows(
        self, include: Sequence[Include], *, resource_id: str | None = None
    ) -> list[Message]:
        """The union of the windows, once each, sorted by ``(created_at, id)``.

        Each :class:`Include` is a message of any thread with ``with_previous`` /
        ``with_next`` neighbours from its own thread; unknown ids are ignored. With
        ``resource_id``, an included message of another resource gives nothing and a
        window keeps only that resource's messages.
        """
        ...


class VectorAware(Protocol):
    """A memory domain that keeps a vector store in step with its messages."""

    def attach_vectors(self, vectors: VectorStore | None) -> None:
        """Remove vectors from ``vectors`` when their messages are deleted or change.

        A store whose vectors live beside its messages (the same SQLite file, the same
        PostgreSQL database, the same DynamoDB table) cascades there itself; any other
        vector store is told after the memory write commits.
        """
        ...


@runtime_checkable
class Prunable(Protocol):
    """A domain that deletes its own expired records, a bounded batch at a time.

    ``store.prune()`` (:mod:`storage.lifecycle.prune`) calls it until a batch deletes
    nothing; the ``memory`` domain ages threads out, ``workflows`` runs,
    ``observability`` spans and ``scores`` scores.
    """

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest records older than ``before``, atomically.

        A thread goes whole (messages, vectors, attachments, offloaded objects) through
        the cascade ``delete_thread`` uses, or not at all; a record younger than
        ``before`` when the batch commits is never deleted. Work a crash left undone
        (blobs of threads already deleted) is finished first.

        Returns:
            Counts by domain (``threads`` and ``messages``, ``runs``, ``spans`` or
            ``scores``); the domain's own count is 0 once nothing is left to delete.
        """
        ...
