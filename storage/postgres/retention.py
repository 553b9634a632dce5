"""Retention on PostgreSQL: ``prune_batch`` for each domain, and the thread cascade's SQL.

Every batch is one statement (data-modifying CTEs), so it is atomic and one round
trip, over psycopg and the Data API alike. The rows are picked ``FOR UPDATE SKIP
LOCKED``: a thread a turn is writing right now is skipped (the turn bumps it, so it
is not idle any more), and a row that changed between the statement's snapshot and
its lock is checked again on its newest version, so nothing younger than the cutoff
is ever deleted.

A thread's blobs are deleted after the commit. The statement that deletes its rows
also records ``(resourceId, thread_id)`` in ``stowage_pending_blob_deletes``; the
record goes once the blobs are gone, so a crash in between is finished by the next
prune (or delete) instead of leaking the attachments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from storage.keys import thread_attachment_prefix
from storage.lifecycle.prune import check_batch
from storage.postgres import _codec as c
from storage.postgres.driver import Driver
from storage.protocols import BlobStore

PENDING_BLOB_DELETES = "stowage_pending_blob_deletes"


def thread_cascade_sql(doomed: str, *, record_blobs: bool) -> str:
    """One statement deleting the threads ``doomed`` selects, with their messages.

    Args:
        doomed: a ``SELECT id, "resourceId" FROM mastra_threads ... FOR UPDATE`` (the
            rows are locked, so a turn cannot write into a thread being deleted).
        record_blobs: also record each thread in ``stowage_pending_blob_deletes``.

    Returns:
        SQL whose rows are ``id``, ``resource_id`` and ``messages`` (deleted) per thread.
        (The messages' vectors go with them: a trigger on ``mastra_messages``.)
    """
    ctes = [
        f"doomed AS ({doomed})",
        "gone AS (DELETE FROM mastra_messages m USING doomed d WHERE m.thread_id = d.id "
        "RETURNING m.thread_id)",
        'thread AS (DELETE FROM mastra_threads t USING doomed d WHERE t.id = d.id '
        'RETURNING t.id, t."resourceId")',
    ]
    if record_blobs:
        ctes.append(
            f'pending AS (INSERT INTO {PENDING_BLOB_DELETES} ("resourceId", thread_id) '
            'SELECT "resourceId", id FROM thread ON CONFLICT DO NOTHING)'
        )
    return (
        "WITH " + ", ".join(ctes) + ' SELECT t.id, t."resourceId" AS resource_id, '
        "(SELECT count(*) FROM gone g WHERE g.thread_id = t.id) AS messages FROM thread t"
    )


def delete_pending_blobs(
    driver: Driver,
    blobs: BlobStore | None,
    threads: list[tuple[str, str]] | None = None,
) -> int:
    """Delete the blobs of ``threads`` (``(resource, thread)``; default: every recorded one).

    Each record goes once its blobs are gone. Returns how many threads were cleaned.
    """
    if blobs is None:
        return 0
    if threads is None:
        threads = [
            (r["resource_id"], r["thread_id"])
            for r in driver.fetch(
                f'SELECT "resourceId" AS resource_id, thread_id FROM {PENDING_BLOB_DELETES}'
            )
        ]
    for resource_id, thread_id in threads:
        blobs.delete_prefix(thread_attachment_prefix(resource_id, thread_id))
        driver.execute(
            f'DELETE FROM {PENDING_BLOB_DELETES} WHERE "resourceId" = :r AND thread_id = :t',
            {"r": resource_id, "t": thread_id},
        )
    return len(threads)


class ThreadPruning:
    """``prune_batch`` for :class:`~storage.postgres.memory.PostgresMemoryStore`."""

    _driver: Driver
    _ready: Callable[[], None]
    _blobs: BlobStore | None
    _thread_deleted: Callable[[str, str], None]

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` idle threads (``updatedAt`` before ``before``) whole."""
        before = check_batch(before, limit)
        self._ready()
        delete_pending_blobs(self._driver, self._blobs)
        rows = self._driver.fetch(
            thread_cascade_sql(
                'SELECT id, "resourceId" FROM mastra_threads '
                f'WHERE "updatedAt" < {c.wall("before")} ORDER BY "updatedAt", id '
                "LIMIT :limit FOR UPDATE SKIP LOCKED",
                record_blobs=self._blobs is not None,
            ),
            {"before": c.iso(before), "limit": limit},
        )
        for row in rows:
            self._thread_deleted(row["resource_id"], row["id"])
        return {"threads": len(rows), "messages": sum(int(r["messages"]) for r in rows)}


def _prune_rows(
    domain: _Pruned, table: str, keys: tuple[str, ...], column: str, before: datetime,
    limit: int,
) -> int:
    before = check_batch(before, limit)
    domain._ready()
    key_list = ", ".join(f'"{k}"' for k in keys)
    match = " AND ".join(f'x."{k}" = d."{k}"' for k in keys)
    return domain._driver.execute(
        f"DELETE FROM {table} x USING (SELECT {key_list} FROM {table} "
        f'WHERE "{column}" < {c.wall("before")} ORDER BY "{column}" LIMIT :limit '
        f"FOR UPDATE SKIP LOCKED) d WHERE {match}",
        {"before": c.iso(before), "limit": limit},
    )


class _Pruned:
    _driver: Driver
    _ready: Callable[[], None]


class RunPruning(_Pruned):
    """``prune_batch`` for the workflow store: runs created before ``before``."""

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest expired runs, in one statement."""
        return {
            "runs": _prune_rows(
                self, "mastra_workflow_snapshot", ("workflow_name", "run_id"), "createdAt",
                before, limit,
            )
        }


class SpanPruning(_Pruned):
    """``prune_batch`` for the observability store: spans started before ``before``."""

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest expired spans, in one statement."""
        return {
            "spans": _prune_rows(
                self, "mastra_ai_spans", ("traceId", "spanId"), "startedAt", before, limit
            )
        }


class ScorePruning(_Pruned):
    """``prune_batch`` for the score store: scores created before ``before``."""

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest expired scores, in one statement."""
        return {"scores": _prune_rows(self, "mastra_scorers", ("id",), "createdAt", before, limit)}


MIGRATION_STATEMENTS: tuple[str, ...] = (
    f"CREATE TABLE IF NOT EXISTS {PENDING_BLOB_DELETES} ("
    '"resourceId" text NOT NULL, thread_id text NOT NULL, '
    '"createdAt" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("resourceId", thread_id))',
    # prune takes the oldest rows first: one time index per domain.
    "CREATE INDEX IF NOT EXISTS stowage_threads_updatedat_idx "
    'ON mastra_threads ("updatedAt", id)',
    "CREATE INDEX IF NOT EXISTS stowage_workflow_snapshot_createdat_idx "
    'ON mastra_workflow_snapshot ("createdAt")',
    'CREATE INDEX IF NOT EXISTS stowage_ai_spans_startedat_idx ON mastra_ai_spans ("startedAt")',
    'CREATE INDEX IF NOT EXISTS stowage_scorers_createdat_idx ON mastra_scorers ("createdAt")',
)
"""Schema migration 3 (``storage.postgres.schema``): what pruning needs."""


__all__ = [
    "MIGRATION_STATEMENTS",
    "PENDING_BLOB_DELETES",
    "RunPruning",
    "ScorePruning",
    "SpanPruning",
    "ThreadPruning",
    "delete_pending_blobs",
    "thread_cascade_sql",
]
