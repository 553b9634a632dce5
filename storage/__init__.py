"""Stowage storage: records, domain protocols, backends and the composite store.

    >>> import storage
    >>> store = storage.from_env()          # .stowage/ under the project root by default
    >>> store.memory.save_thread(storage.Thread(id="t-1", resource_id="u-1"))
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any
from urllib.parse import urlsplit

from storage.composite import CompositeStore
from storage.errors import (
    ConflictError,
    ItemTooLargeError,
    MessageIdConflictError,
    NotFoundError,
    StorageError,
    UnavailableError,
    ValidationError,
)
from storage.protocols import (
    BlobStore,
    MemoryStore,
    ObservabilityStore,
    ScoreStore,
    Store,
    VectorStore,
    WorkflowStore,
)
from storage.records import (
    Include,
    Message,
    MessageUpdate,
    MessageVector,
    Page,
    Resource,
    Score,
    Span,
    SpanUpdate,
    Thread,
    VectorMatch,
    WorkflowRun,
)
from storage.urls import open_url as open

log = logging.getLogger(__name__)

DEFAULT_STORAGE_URL = "sqlite:///.stowage/stowage.db"
DEFAULT_BLOBS_URL = "file:///.stowage/blobs"
_logged_default = threading.Event()


def from_env(environ: dict[str, str] | None = None) -> CompositeStore:
    """Build the composite store from the environment.

    ``STOWAGE_STORAGE_URL`` names the default store; ``STOWAGE_MEMORY_URL``,
    ``STOWAGE_WORKFLOWS_URL``, ``STOWAGE_OBSERVABILITY_URL``, ``STOWAGE_SCORES_URL``,
    ``STOWAGE_BLOBS_URL`` and ``STOWAGE_VECTORS_URL`` override one domain each (vectors
    default to the memory domain's store: the same SQLite file, PostgreSQL database or
    DynamoDB memory table as the messages). With nothing set this is the
    embedded default: ``sqlite:///.stowage/stowage.db`` + ``file:///.stowage/blobs``,
    under the project root whatever the cwd (the resolved path is logged once).
    ``STOWAGE_RETENTION`` (``threads=90d,runs=30d,spans=14d,scores=180d``) is the
    composite's retention (``store.prune()``, DynamoDB's TTL).

    Raises:
        ValidationError: a bad URL, or a retention naming an unknown domain or an age
            that does not parse (the message names it): startup stops there.
    """
    env = os.environ if environ is None else environ
    from storage.lifecycle.retention import Retention

    retention = Retention.from_env(env)  # refused before any store is opened
    default_url = env.get("STOWAGE_STORAGE_URL") or DEFAULT_STORAGE_URL
    blobs_url = env.get("STOWAGE_BLOBS_URL") or (
        DEFAULT_BLOBS_URL if default_url == DEFAULT_STORAGE_URL else None
    )
    opened: dict[str, Any] = {}

    def _open(url: str) -> Any:
        if url not in opened:
            opened[url] = open(url)
        return opened[url]

    overrides: dict[str, Any] = {}
    for domain in ("memory", "workflows", "observability", "scores", "vectors"):
        url = env.get(f"STOWAGE_{domain.upper()}_URL")
        if url:
            overrides[domain] = _open(url)
    if "memory" in overrides and "vectors" not in overrides:
        # Vectors live beside their messages (cascades, the upsert's message check).
        overrides["vectors"] = overrides["memory"]
    if blobs_url:
        overrides["blobs"] = _open(blobs_url)
    store = CompositeStore(_open(default_url), **overrides, retention=retention)
    if default_url == DEFAULT_STORAGE_URL and not _logged_default.is_set():
        _logged_default.set()
        from storage.urls import local_path, project_root

        log.info(
            "storage: embedded default at %s (project root %s)",
            local_path(urlsplit(DEFAULT_STORAGE_URL)),
            project_root(),
        )
    return store


__all__ = [
    "BlobStore",
    "CompositeStore",
    "ConflictError",
    "Include",
    "ItemTooLargeError",
    "MemoryStore",
    "Message",
    "MessageIdConflictError",
    "MessageUpdate",
    "MessageVector",
    "NotFoundError",
    "ObservabilityStore",
    "Page",
    "Resource",
    "Score",
    "ScoreStore",
    "Span",
    "SpanUpdate",
    "StorageError",
    "Store",
    "Thread",
    "UnavailableError",
    "ValidationError",
    "VectorMatch",
    "VectorStore",
    "WorkflowRun",
    "WorkflowStore",
    "from_env",
    "open",
]
