"""The domain protocols every backend implements (contract: DESIGN §2).

One module a domain (``memory``, ``workflows``, ``observability``, ``scores``,
``blobs``, ``vectors``), what a domain may do beyond it (``capabilities``) and the
bundle of domains (``store``); every name is re-exported here, where callers import it.

``agents/`` and ``handlers/`` depend on these, never on a backend class. The
docstrings are the contract; ``tests/storage/conformance`` checks every backend
against them, with ``storage.memory`` as the reference.

Common rules:
    * ``get_*`` of something missing returns ``None``; ``update_*`` of something
      missing raises :class:`~storage.errors.NotFoundError` (except
      ``update_resource``, which creates); ``delete_*`` of something missing is a no-op.
    * Bad ids, metadata keys, JSON values or page arguments raise
      :class:`~storage.errors.ValidationError` before anything is written.
    * Every store is safe to share between threads.
"""

from __future__ import annotations

from storage.protocols.blobs import BlobLister, BlobStore
from storage.protocols.capabilities import BlobAware, Prunable, VectorAware, WindowReader
from storage.protocols.memory import Direction, MemoryStore, OrderBy
from storage.protocols.observability import ObservabilityStore
from storage.protocols.scores import ScoreStore
from storage.protocols.store import DOMAINS, Store
from storage.protocols.vectors import VectorStore
from storage.protocols.workflows import WorkflowStore

__all__ = [
    "DOMAINS",
    "BlobAware",
    "BlobLister",
    "BlobStore",
    "Direction",
    "MemoryStore",
    "ObservabilityStore",
    "OrderBy",
    "Prunable",
    "ScoreStore",
    "Store",
    "VectorAware",
    "VectorStore",
    "WindowReader",
    "WorkflowStore",
]
