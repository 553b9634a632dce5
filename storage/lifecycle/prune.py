"""``prune``: delete what is past its retention, domain by domain, in bounded batches.

The orchestration is backend-neutral: for each domain with an age it asks the domain
object (a :class:`~storage.protocols.Prunable`) to delete one batch of its oldest
expired records, one transaction per batch, until a batch deletes nothing. So a run
can stop anywhere (a crash, a Lambda timeout, the ``time_budget``) and the next run
carries on: every batch left the store consistent, and nothing is deleted that a
later run would not also delete. The domains decide what a batch is (threads go with
everything under them through the cascade ``delete_thread`` uses) and never delete a
record younger than the cutoff, even one that became younger while the batch ran.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.errors import ValidationError
from storage.lifecycle.retention import RETENTION_DOMAINS, STORAGE_DOMAIN, Retention
from storage.protocols import Prunable
from storage.timeutil import to_iso, to_ms, utcnow

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 200
"""Records (threads: whole threads) deleted per batch, each batch one transaction."""
MAX_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class PruneReceipt:
    """What a prune deleted: counts per domain, never content.

    Attributes:
        counts: ``threads``, ``messages``, ``runs``, ``spans``, ``scores`` deleted (a
            domain with no retention, or whose backend expires it itself, counts 0).
        now: the clock ages were judged by.
        started_at: when the prune started (wall clock).
        finished_at: when it returned.
        complete: ``False`` when the time budget ran out with expired records left
            (the next prune carries on).
        skipped: retention domains whose domain object has no ``prune_batch`` (a
            custom domain), with why.
    """

    counts: Mapping[str, int]
    now: datetime
    started_at: datetime
    finished_at: datetime
    complete: bool = True
    skipped: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO timestamps, counts by domain."""
        return {
            "counts": dict(self.counts),
            "now": to_iso(self.now),
            "startedAt": to_iso(self.started_at),
            "finishedAt": to_iso(self.finished_at),
            "complete": self.complete,
            "skipped": dict(self.skipped),
        }


def prune(
    store: Any,
    retention: Retention,
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    time_budget: float | None = None,
) -> PruneReceipt:
    """Delete every record of ``store`` older than its domain's age in ``retention``.

    Args:
        store: a store or composite (its ``memory``, ``workflows``, ``observability``
            and ``scores`` domains are pruned when they implement ``Prunable``).
        retention: the ages; a domain without one is left alone.
        now: the clock to judge ages by (default: the current time).
        batch_size: records per batch (threads: whole threads), each batch one
            transaction.
        time_budget: seconds after which no new batch starts (``None``: until done);
            the receipt then says ``complete=False``.

    Raises:
        ValidationError: a bad ``retention``, ``now`` or ``batch_size``.
    """
    if not isinstance(retention, Retention):
        raise ValidationError(f"retention must be a Retention, got {type(retention).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise ValidationError("batch_size must be an integer")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValidationError(f"batch_size must be 1..{MAX_BATCH_SIZE}, got {batch_size}")
    if now is not None and not isinstance(now, datetime):
        raise ValidationError(f"now must be a datetime, got {type(now).__name__}")
    try:
        clock = to_ms(now) if now is not None else utcnow()
    except ValueError as exc:
        raise ValidationError(f"now: {exc}") from exc
    started = utcnow()
    deadline = None if time_budget is None else time.monotonic() + time_budget
    counts = {"threads": 0, "messages": 0, "runs": 0, "spans": 0, "scores": 0}
    skipped: dict[str, str] = {}
    complete = True
    for key in RETENTION_DOMAINS:
        cutoff = retention.cutoff(key, clock)
        if cutoff is None:
            continue
        domain = getattr(store, STORAGE_DOMAIN[key], None)
        if domain is None:
            continue
        if not isinstance(domain, Prunable):
            skipped[key] = f"{type(domain).__name__} does not prune {key}"
            continue
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                complete = False
                break
            batch = domain.prune_batch(cutoff, limit=batch_size)
            for name, value in batch.items():
                counts[name] = counts.get(name, 0) + int(value)
            if not batch.get(key):
                break
        if not complete:
            break
    receipt = PruneReceipt(
        counts=counts, now=clock, started_at=started, finished_at=utcnow(),
        complete=complete, skipped=skipped,
    )
    log.info(
        "prune %s complete=%s",
        " ".join(f"{k}={v}" for k, v in counts.items()),
        complete,
    )
    return receipt


def check_batch(before: object, limit: object) -> datetime:
    """What every ``prune_batch`` checks first: an aware ``before`` and a sane ``limit``.

    Returns:
        ``before`` in UTC, at millisecond precision.

    Raises:
        ValidationError: naming the bad argument.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BATCH_SIZE:
        raise ValidationError(f"limit must be an integer 1..{MAX_BATCH_SIZE}, got {limit!r}")
    if not isinstance(before, datetime):
        raise ValidationError(f"before must be a datetime, got {type(before).__name__}")
    try:
        return to_ms(before)
    except ValueError as exc:
        raise ValidationError(f"before: {exc}") from exc


class PruneMixin:
    """``store.prune(now=None)`` and the store's ``retention``, for stores and composites.

    A store that mixes this in prunes its own domains with :func:`prune`. Domains
    that stamp expiry times at write time (DynamoDB's TTL) are handed the retention
    through their ``attach_retention``.
    """

    retention: Retention = Retention()

    def attach_retention(self, retention: Retention) -> None:
        """Keep ``retention`` for :meth:`prune` and hand it to domains that stamp expiry."""
        if not isinstance(retention, Retention):
            raise ValidationError(
                f"retention must be a Retention, got {type(retention).__name__}"
            )
        self.retention = retention
        for name in ("memory", "workflows", "observability", "scores"):
            attach = getattr(getattr(self, name, None), "attach_retention", None)
            if callable(attach):
                attach(retention)

    def prune(
        self,
        now: datetime | None = None,
        *,
        retention: Retention | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        time_budget: float | None = None,
    ) -> PruneReceipt:
        """Delete what is past its age (see :func:`prune`); ``retention`` overrides the store's."""
        return prune(
            self,
            self.retention if retention is None else retention,
            now=now,
            batch_size=batch_size,
            time_budget=time_budget,
        )


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH_SIZE",
    "PruneMixin",
    "PruneReceipt",
    "check_batch",
    "prune",
]
