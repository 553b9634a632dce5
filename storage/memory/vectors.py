"""``InMemoryVectorStore``: message vectors in a dict, searched exactly.

The reference semantics of :class:`storage.protocols.VectorStore`: an exact cosine
k-NN over the resource's vectors, ranked by :func:`storage.vector_rules.rank`. Every
other backend (sqlite-vec, pgvector, DynamoDB's vector index) must find what this
one finds on the conformance sets. Vectors are kept at float32 precision, as every
real index keeps them, so scores agree across backends.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storage import validation as v
from storage import vector_rules as rules
from storage.records import MessageVector, VectorMatch

if TYPE_CHECKING:
    from storage.memory.conversations import InMemoryMemoryStore


class InMemoryVectorStore:
    """Message vectors in process memory (see ``VectorStore``).

    Args:
        lock: the lock shared with the memory domain, so a cascade is atomic with the
            message write that causes it.
        memory: the memory domain beside it: an upsert whose message it does not hold
            (with that thread, resource and time) is skipped.
    """

    def __init__(
        self,
        *,
        lock: threading.RLock | None = None,
        memory: InMemoryMemoryStore | None = None,
    ) -> None:
        self._lock = lock or threading.RLock()
        self._beside = memory
        self._checked_against = memory
        self._vectors: dict[str, MessageVector] = {}
        self._bound: tuple[str, int] | None = None

    def attach_memory(self, memory: Any) -> None:
        """Check upserts against ``memory`` if it is the one beside this store, else not."""
        self._checked_against = memory if memory is self._beside else None

    def upsert(self, vectors: Sequence[MessageVector]) -> None:
        """Store each message's vector (see :meth:`storage.protocols.VectorStore.upsert`)."""
        batch = rules.check_vectors(vectors)
        if not batch:
            return
        pair = (batch[0].embedder, batch[0].dimensions)
        with self._lock:
            rules.check_binding(self._bound, *pair)
            kept = [item for item in batch if self._message_matches(item)]
            if not kept:
                return
            self._bound = pair
            for item in kept:
                self._vectors[item.message_id] = MessageVector(
                    message_id=item.message_id,
                    thread_id=item.thread_id,
                    resource_id=item.resource_id,
                    created_at=item.created_at,
                    vector=rules.to_float32(item.vector),
                    embedder=item.embedder,
                )

    def search(
        self,
        vector: Sequence[float],
        *,
        embedder: str,
        resource_id: str,
        thread_id: str | None = None,
        top_k: int = rules.DEFAULT_TOP_K,
        threshold: float | None = None,
    ) -> list[VectorMatch]:
        """The nearest messages of the resource (see ``VectorStore.search``), exactly."""
        query = rules.check_query(
            vector, embedder=embedder, resource_id=resource_id, thread_id=thread_id,
            top_k=top_k, threshold=threshold,
        )
        target = rules.to_float32(query.vector)
        with self._lock:
            if self._bound is None:
                return []
            rules.check_binding(self._bound, query.embedder, query.dimensions)
            candidates = [
                VectorMatch(
                    message_id=item.message_id,
                    thread_id=item.thread_id,
                    resource_id=item.resource_id,
                    created_at=item.created_at,
                    score=rules.cosine(target, item.vector),
                )
                for item in self._vectors.values()
                if item.resource_id == query.resource_id
                and (query.thread_id is None or item.thread_id == query.thread_id)
            ]
        return rules.rank(candidates, query.top_k, query.threshold)

    def delete(self, message_ids: Sequence[str]) -> None:
        """Delete these messages' vectors; unknown ids are ignored."""
        ids = v.check_ids(message_ids, "message id")
        with self._lock:
            for message_id in ids:
                self._vectors.pop(message_id, None)

    def delete_thread(self, thread_id: str) -> None:
        """Delete the vectors of a thread's messages."""
        v.check_id(thread_id, "thread id")
        with self._lock:
            for key in [k for k, item in self._vectors.items() if item.thread_id == thread_id]:
                del self._vectors[key]

    def delete_resource(self, resource_id: str) -> int:
        """Delete the vectors of a resource's messages; how many."""
        v.check_id(resource_id, "resource id")
        with self._lock:
            doomed = [k for k, item in self._vectors.items() if item.resource_id == resource_id]
            for key in doomed:
                del self._vectors[key]
        return len(doomed)

    def index(self) -> tuple[str, int] | None:
        """The ``(embedder, dimensions)`` the index is bound to, or ``None``."""
        with self._lock:
            return self._bound

    def _message_matches(self, item: MessageVector) -> bool:
        """Whether the message beside this store is the one the vector describes."""
        if self._checked_against is None:
            return True
        message = self._checked_against.stored_message(item.message_id)
        return (
            message is not None
            and message.thread_id == item.thread_id
            and message.resource_id == item.resource_id
            and message.created_at == item.created_at
        )

    def __repr__(self) -> str:
        return f"InMemoryVectorStore(index={self._bound!r})"
