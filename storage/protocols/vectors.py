"""The ``vectors`` domain: message embeddings for semantic recall.

Part of :mod:`storage.protocols` (the contract; import the names from there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from storage.records import MessageVector, VectorMatch


@runtime_checkable
class VectorStore(Protocol):
    """Message embeddings and the nearest-neighbour search semantic recall runs.

    An index is bound to one ``(embedder, dimensions)`` pair by its first upsert and
    stays bound (deleting every vector does not unbind it): vectors of two embedders
    are never compared. Each message has at most one vector.

    Cascades (contract): deleting a message or a thread through the memory domain, or
    changing a message's content, thread or resource, removes its vector (SQL backends
    in the same transaction, DynamoDB because the vector is an attribute of the message
    item). A message written again whole by ``save_messages`` may lose its vector
    (DynamoDB rewrites the item): re-embed what you re-save.
    """

    def upsert(self, vectors: Sequence[MessageVector]) -> None:
        """Store each message's vector, replacing the one it had; all or nothing.

        The first upsert binds the index to its ``(embedder, dimensions)``. A vector
        whose message is not stored with that thread, resource and ``created_at``
        (deleted or moved while it was being embedded) is skipped, never stored on its
        own: every backend checks this against the messages stored beside it (a
        vector store with no memory domain beside it stores what it is given).

        Raises:
            ValidationError: a blank id or embedder; a vector that is empty, longer
                than 4096, all zeros or holds a non-finite number; two embedders or
                dimensions in one call; an ``(embedder, dimensions)`` pair other than
                the index's. Nothing is stored.
        """
        ...

    def search(
        self,
        vector: Sequence[float],
        *,
        embedder: str,
        resource_id: str,
        thread_id: str | None = None,
        top_k: int = 4,
        threshold: float | None = None,
    ) -> list[VectorMatch]:
        """The ``top_k`` messages of ``resource_id`` (and of ``thread_id`` when given) nearest
        to ``vector`` by cosine similarity.

        Best first; equal scores by ``created_at``, then ``message_id``, ascending. Never
        a message of another resource. Matches scoring below ``threshold`` are dropped.
        An unbound (empty) index finds nothing.

        Raises:
            ValidationError: ``top_k`` outside 1..100, ``threshold`` outside [-1, 1], a
                blank ``resource_id`` or ``thread_id``, a vector the upsert rules refuse,
                or an ``embedder``/dimensions differing from the index's.
        """
        ...

    def delete(self, message_ids: Sequence[str]) -> None:
        """Delete these messages' vectors; unknown ids are ignored."""
        ...

    def delete_thread(self, thread_id: str) -> None:
        """Delete the vectors of every message of a thread."""
        ...

    def delete_resource(self, resource_id: str) -> int:
        """Delete the vectors of every message of a resource.

        Returns:
            How many vectors were deleted.
        """
        ...

    def index(self) -> tuple[str, int] | None:
        """The ``(embedder, dimensions)`` of the index; ``None`` before the first upsert."""
        ...
