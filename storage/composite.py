"""``CompositeStore``: each domain served by the backend that suits it.

It has no storage logic of its own: it picks a domain object per domain, hands the
blob domain to the domains that offload into it, hands the vector domain to the memory
domain (which keeps it in step with the messages), and delegates ``setup``/``close``.
"""

from __future__ import annotations

from typing import Any

from storage.lifecycle.erase import EraseMixin
from storage.lifecycle.prune import PruneMixin
from storage.lifecycle.retention import Retention
from storage.protocols import (
    DOMAINS,
    BlobStore,
    MemoryStore,
    ObservabilityStore,
    ScoreStore,
    VectorStore,
    WorkflowStore,
)


def _is_store(value: Any) -> bool:
    # A store bundles domains and has setup(); a domain object is the domain itself.
    return callable(getattr(value, "setup", None)) and any(hasattr(value, d) for d in DOMAINS)


class CompositeStore(PruneMixin, EraseMixin):
    """Maps each domain to a store (its domain is taken) or to a domain object.

    Example:
        >>> CompositeStore(memory=storage.open("dynamodb://app"),
        ...                blobs=storage.open("s3://bucket/app"))

    A domain not given falls back to ``default`` (``None`` when ``default`` lacks it).
    Domains that offload big items (DynamoDB's) or clean up attachments get this
    composite's ``blobs``; the memory domain gets its ``vectors`` (``attach_vectors``)
    and the vector domain its ``memory`` (``attach_memory``), so deleting a message
    deletes its vector wherever each lives. ``retention``
    (``storage.lifecycle.Retention``) is what :meth:`prune` deletes by, and what
    domains that stamp expiry times at write time (DynamoDB's TTL) are handed.
    """

    memory: MemoryStore | None
    workflows: WorkflowStore | None
    observability: ObservabilityStore | None
    scores: ScoreStore | None
    blobs: BlobStore | None
    vectors: VectorStore | None

    def __init__(
        self,
        default: Any = None,
        *,
        memory: Any = None,
        workflows: Any = None,
        observability: Any = None,
        scores: Any = None,
        blobs: Any = None,
        vectors: Any = None,
        retention: Retention | None = None,
    ) -> None:
        given = {
            "memory": memory,
            "workflows": workflows,
            "observability": observability,
            "scores": scores,
            "blobs": blobs,
            "vectors": vectors,
        }
        self._owners: list[Any] = []  # distinct stores and bare domain objects, in order
        for domain in DOMAINS:
            source = given[domain] if given[domain] is not None else default
            if source is None:
                setattr(self, domain, None)
                continue
            if _is_store(source):
                setattr(self, domain, getattr(source, domain, None))
            else:
                setattr(self, domain, source)
            owner = source
            if not any(owner is known for known in self._owners):
                self._owners.append(owner)
        self._attach_blobs()
        self._attach_vectors()
        if retention is not None:
            self.attach_retention(retention)

    def _attach_blobs(self) -> None:
        if self.blobs is None:
            return
        for domain in ("memory", "workflows", "observability", "scores"):
            target = getattr(self, domain)
            attach = getattr(target, "attach_blobs", None)
            if callable(attach):
                attach(self.blobs)

    def _attach_vectors(self) -> None:
        attach = getattr(self.memory, "attach_vectors", None)
        if callable(attach):
            attach(self.vectors)
        attach = getattr(self.vectors, "attach_memory", None)
        if callable(attach):
            attach(self.memory)

    def setup(self) -> None:
        """Set up each distinct underlying store (or domain object) once."""
        for owner in self._owners:
            setup = getattr(owner, "setup", None)
            if callable(setup):
                setup()

    def close(self) -> None:
        """Close each distinct underlying store once."""
        for owner in self._owners:
            close = getattr(owner, "close", None)
            if callable(close):
                close()

    def __repr__(self) -> str:
        parts = ", ".join(f"{d}={type(getattr(self, d)).__name__}" for d in DOMAINS)
        return f"CompositeStore({parts})"
