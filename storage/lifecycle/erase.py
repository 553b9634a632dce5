"""``erase_resource``: delete everything a resource owns, in every domain, resumably.

What goes is what :class:`~storage.lifecycle.inventory.ResourceInventory` lists, in an
order where every step leaves a consistent store, so a crash anywhere leaves nothing
dangling and a rerun finishes the job:

1. ``scores`` (they point at runs, traces and threads; nothing points at them);
2. ``spans``, trace by trace (``delete_traces``);
3. workflow ``runs`` (each ``delete_run`` takes its offloaded snapshot with it);
4. ``vectors`` of the resource's messages (a message without a vector is a valid
   state: it is simply not recalled);
5. ``threads``, one ``delete_thread`` each: the backend's cascade removes the messages,
   their vectors, neighbour and window data, offloaded objects and attachments;
6. the resource record (working memory) through ``MemoryStore.delete_resource``, which
   first finishes blob deletions a crashed thread delete left pending;
7. the blobs left under the resource's prefixes (attachments and uploads of threads
   whose cascade was cut short, offloaded working memory): the record that pointed at
   them is gone.

Each list re-reads its first page until it is empty, so records written to the
resource while the erase runs are erased too (a turn racing the erase may still add a
thread after step 5: erase again). Unknown resource: nothing to delete, an empty receipt.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from storage import validation as v
from storage.errors import UnavailableError, ValidationError
from storage.lifecycle.inventory import blob_prefixes, thread_blob_prefixes
from storage.protocols import BlobLister
from storage.timeutil import to_iso, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_ERASE_BATCH = 100
"""Records listed (and then deleted) per round."""
MAX_ERASE_BATCH = 1_000

ERASE_DOMAINS: tuple[str, ...] = (
    "threads", "messages", "vectors", "resources", "runs", "spans", "scores", "blobs",
)
"""The receipt's counts, always all present."""


def resource_tag(resource_id: str) -> str:
    """What logs name a resource by: a short SHA-256 of its id (ids can be e-mails)."""
    return hashlib.sha256(resource_id.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ErasureReceipt:
    """What an erase deleted: counts per domain and when, never content.

    Attributes:
        resource_id: the resource erased.
        counts: how many of each of :data:`ERASE_DOMAINS` this call deleted (a rerun
            after a crash counts what it deleted itself; a repeat counts zeros).
        started_at: when the erase started.
        finished_at: when it returned.
    """

    resource_id: str
    counts: Mapping[str, int]
    started_at: datetime
    finished_at: datetime
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether nothing was deleted."""
        return not any(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``resourceId``, ``counts``, ``startedAt``, ``finishedAt``, ``notes``."""
        return {
            "resourceId": self.resource_id,
            "counts": dict(self.counts),
            "startedAt": to_iso(self.started_at),
            "finishedAt": to_iso(self.finished_at),
            "notes": dict(self.notes),
        }


def _check_batch(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise ValidationError("batch_size must be an integer")
    if not 1 <= batch_size <= MAX_ERASE_BATCH:
        raise ValidationError(f"batch_size must be 1..{MAX_ERASE_BATCH}, got {batch_size}")
    return batch_size


EXTRA_ROUNDS = 10
"""Rounds an erase list may take beyond what its first page's total needs: records
written while the erase runs are erased too, but a writer that keeps up with the erase
cannot hold it forever."""


def _drain(
    what: str,
    first_page: Callable[[], Any],
    key: Callable[[T], object],
    delete: Callable[[Sequence[T]], int],
) -> int:
    """Delete what ``first_page`` lists until it lists nothing; how many went.

    A page that lists only what the previous round deleted means the store keeps
    listing what it says it deleted: stop with an error rather than loop forever.
    So does a list still not empty after the rounds its first total needed and
    :data:`EXTRA_ROUNDS` more (something keeps writing to the resource).

    Raises:
        UnavailableError: either case; what was deleted stays deleted, and erasing
            again once the writes stop completes the erase.
    """
    total = 0
    previous: set[object] = set()
    rounds = 0
    limit: int | None = None
    while True:
        page = first_page()
        batch: list[T] = list(page.items)
        if not batch:
            return total
        if limit is None:
            limit = -(-max(int(page.total), len(batch)) // len(batch)) + EXTRA_ROUNDS
        rounds += 1
        if rounds > limit:
            raise UnavailableError(f"erase: {what} are still being written to the resource; "
                                   "stop its writers and erase again")
        keys = {key(item) for item in batch}
        if keys <= previous:
            raise UnavailableError(f"erase: {what} listed again after being deleted")
        previous = keys
        total += delete(batch)


def erase_resource(
    store: Any, resource_id: str, *, batch_size: int = DEFAULT_ERASE_BATCH
) -> ErasureReceipt:
    """Delete every record and blob ``resource_id`` owns in ``store``; a receipt.

    Idempotent and resumable: after a failure (the error propagates) call it again
    and it carries on; once everything is gone it returns a receipt of zeros.

    Args:
        store: a store or composite; a domain it lacks (``None``) is skipped, and so
            are scores when the score domain cannot delete (noted in the receipt).
        resource_id: whose data goes.
        batch_size: records listed per round (each then deleted).

    Raises:
        ValidationError: a bad ``resource_id`` or ``batch_size`` (nothing is deleted).
        UnavailableError: the resource is still being written to faster than the
            erase deletes (HTTP 503, retryable): stop its writers and erase again.
    """
    v.check_id(resource_id, "resource id")
    per_page = _check_batch(batch_size)
    started = utcnow()
    counts = dict.fromkeys(ERASE_DOMAINS, 0)
    notes: dict[str, str] = {}
    memory = getattr(store, "memory", None)
    blobs = getattr(store, "blobs", None)
    lister = blobs if isinstance(blobs, BlobLister) else None
    # Blob keys seen under the resource's prefixes (counted once, whichever step
    # deletes them: a thread's cascade or the last step).
    seen: set[str] = set()

    def note_blobs(prefixes: Sequence[str]) -> None:
        if lister is not None:
            for prefix in prefixes:
                seen.update(lister.list_keys(prefix))

    note_blobs(blob_prefixes(resource_id))

    scores = getattr(store, "scores", None)
    if scores is not None and callable(getattr(scores, "delete_scores", None)):
        def delete_scores(batch: Sequence[Any]) -> int:
            scores.delete_scores([s.id for s in batch])
            return len(batch)

        counts["scores"] = _drain(
            "scores",
            lambda: scores.list_scores(resource_id=resource_id, per_page=per_page),
            lambda s: s.id, delete_scores,
        )
    elif scores is not None:
        notes["scores"] = f"{type(scores).__name__} cannot delete scores"

    observability = getattr(store, "observability", None)
    if observability is not None:
        def delete_traces(batch: Sequence[Any]) -> int:
            ids = [root.trace_id for root in batch]
            spans = sum(len(observability.get_trace(trace_id)) for trace_id in ids)
            observability.delete_traces(ids)
            return spans

        counts["spans"] = _drain(
            "traces",
            lambda: observability.list_traces(resource_id=resource_id, per_page=per_page),
            lambda root: root.trace_id, delete_traces,
        )

    workflows = getattr(store, "workflows", None)
    if workflows is not None:
        def delete_runs(batch: Sequence[Any]) -> int:
            for run in batch:
                workflows.delete_run(run.workflow_name, run.run_id)
            return len(batch)

        counts["runs"] = _drain(
            "runs",
            lambda: workflows.list_runs(resource_id=resource_id, per_page=per_page),
            lambda run: (run.workflow_name, run.run_id), delete_runs,
        )

    vectors = getattr(store, "vectors", None)
    if vectors is not None and memory is not None:
        counts["vectors"] = int(vectors.delete_resource(resource_id))

    if memory is not None:
        def delete_threads(batch: Sequence[Any]) -> int:
            for thread in batch:
                counts["messages"] += int(memory.list_messages(thread.id, per_page=0).total)
                note_blobs(thread_blob_prefixes(thread.id))
                memory.delete_thread(thread.id)
            return len(batch)

        counts["threads"] = _drain(
            "threads",
            lambda: memory.list_threads(
                resource_id=resource_id, per_page=per_page,
                order_by="created_at", direction="asc",
            ),
            lambda thread: thread.id, delete_threads,
        )
        counts["resources"] = int(bool(memory.delete_resource(resource_id)))

    if blobs is not None:
        note_blobs(blob_prefixes(resource_id))
        for prefix in blob_prefixes(resource_id):
            blobs.delete_prefix(prefix)
        counts["blobs"] = len(seen)

    receipt = ErasureReceipt(
        resource_id=resource_id, counts=counts, started_at=started,
        finished_at=utcnow(), notes=notes,
    )
    log.info(
        "erase resource=%s %s",
        resource_tag(resource_id),
        " ".join(f"{k}={v}" for k, v in counts.items()),
    )
    return receipt


class EraseMixin:
    """``store.erase_resource(resource_id)`` for stores and composites."""

    def erase_resource(
        self, resource_id: str, *, batch_size: int = DEFAULT_ERASE_BATCH
    ) -> ErasureReceipt:
        """Delete everything ``resource_id`` owns (see :func:`erase_resource`)."""
        return erase_resource(self, resource_id, batch_size=batch_size)


__all__ = [
    "DEFAULT_ERASE_BATCH",
    "ERASE_DOMAINS",
    "MAX_ERASE_BATCH",
    "EraseMixin",
    "ErasureReceipt",
    "erase_resource",
    "resource_tag",
]
