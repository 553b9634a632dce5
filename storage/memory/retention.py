"""Retention in process memory: ``prune_batch`` for each domain (the reference).

A batch runs under the store's one lock, so it is atomic as a transaction is: the
age check and the delete see the same records. A thread goes through the cascade
``delete_thread`` runs; the blob prefix it notes before deleting blobs stays noted
if the blob store fails, and the next batch finishes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from storage.lifecycle.prune import check_batch
from storage.protocols import BlobStore
from storage.records import Score, Span, Thread, WorkflowRun


def _oldest(records: Mapping[Any, Any], stamp: Callable[[Any], datetime], before: datetime,
            limit: int, tie: Callable[[Any], Any]) -> list[Any]:
    """Keys of the ``limit`` oldest records stamped before ``before``."""
    expired = [(stamp(r), tie(r), key) for key, r in records.items() if stamp(r) < before]
    return [key for _, _, key in sorted(expired)[:limit]]


class ThreadPruning:
    """``prune_batch`` for :class:`~storage.memory.conversations.InMemoryMemoryStore`."""

    _lock: threading.RLock
    _threads: dict[str, Thread]
    _blobs: BlobStore | None
    _pending_blob_prefixes: set[str]
    _delete_thread_locked: Callable[[str], int | None]

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` idle threads (``updated_at`` before ``before``) whole."""
        before = check_batch(before, limit)
        with self._lock:
            if self._blobs is not None:
                for prefix in sorted(self._pending_blob_prefixes):
                    self._blobs.delete_prefix(prefix)
                    self._pending_blob_prefixes.discard(prefix)
            doomed = _oldest(self._threads, lambda t: t.updated_at, before, limit,
                             lambda t: t.id)
            messages = 0
            for thread_id in doomed:
                messages += self._delete_thread_locked(thread_id) or 0
        return {"threads": len(doomed), "messages": messages}


class RunPruning:
    """``prune_batch`` for the in-memory workflow store: runs by ``created_at``."""

    _lock: threading.RLock
    _runs: dict[tuple[str, str], WorkflowRun]

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest runs created before ``before``."""
        before = check_batch(before, limit)
        with self._lock:
            doomed = _oldest(self._runs, lambda r: r.created_at, before, limit,
                             lambda r: r.run_id)
            for key in doomed:
                del self._runs[key]
        return {"runs": len(doomed)}


class SpanPruning:
    """``prune_batch`` for the in-memory observability store: spans by ``started_at``."""

    _lock: threading.RLock
    _spans: dict[tuple[str, str], Span]

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest spans started before ``before``."""
        before = check_batch(before, limit)
        with self._lock:
            doomed = _oldest(self._spans, lambda s: s.started_at, before, limit,
                             lambda s: (s.trace_id, s.span_id))
            for key in doomed:
                del self._spans[key]
        return {"spans": len(doomed)}


class ScorePruning:
    """``prune_batch`` for the in-memory score store: scores by ``created_at``."""

    _lock: threading.RLock
    _scores: dict[str, Score]

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest scores created before ``before``."""
        before = check_batch(before, limit)
        with self._lock:
            doomed = _oldest(self._scores, lambda s: s.created_at, before, limit,
                             lambda s: s.id)
            for key in doomed:
                del self._scores[key]
        return {"scores": len(doomed)}


__all__ = ["RunPruning", "ScorePruning", "SpanPruning", "ThreadPruning"]
