"""Retention on SQLite: ``prune_batch`` for each domain, and the pending blob deletions.

Each batch is one ``BEGIN IMMEDIATE`` transaction: it takes the write lock first, so
a turn bumping a thread waits for the batch or runs before it, and the age check and
the delete see the same rows (no thread is deleted that became younger meanwhile).

A thread's blobs cannot be deleted in the transaction that deletes its rows, and
deleting them before the commit could strip a thread that is then kept. So the
transaction records the thread's blob prefix in ``stowage_pending_blob_deletes``;
after the commit the blobs go and the record with them. A crash in between leaves the
record, and the next prune (or delete) finishes it: the blobs never outlive their
thread for longer than one run.

Ages are compared on the stored text (the indexes order it), then exactly with
``julianday``: a row another writer stored as ``YYYY-MM-DD HH:MM:SS`` sorts before its
ISO twin of the same day, and must not be taken for older than it is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from storage.lifecycle.prune import check_batch
from storage.protocols import BlobStore
from storage.sqlite._codec import iso
from storage.sqlite.schema import PENDING_BLOB_DELETES, SCORES, SPANS, THREADS, WORKFLOWS
from storage.timeutil import utcnow

if TYPE_CHECKING:
    from storage.sqlite.db import SQLiteDatabase


# --- pending blob deletions (shared with delete_thread) ---------------------------------


def record_pending_blobs(conn: sqlite3.Connection, prefix: str) -> None:
    """Note, inside the transaction deleting a thread, that ``prefix`` must go."""
    conn.execute(
        f'INSERT OR IGNORE INTO {PENDING_BLOB_DELETES} (prefix, "createdAt") VALUES (?, ?)',
        (prefix, iso(utcnow())),
    )


def delete_pending_blobs(
    db: SQLiteDatabase, blobs: BlobStore | None, prefixes: list[str] | None = None
) -> int:
    """Delete ``prefixes`` (default: every recorded one) from ``blobs``, then their records.

    Returns:
        How many prefixes were cleaned.
    """
    if blobs is None:
        return 0
    if prefixes is None:
        with db.read("pending blob deletes") as conn:
            prefixes = [
                row[0] for row in conn.execute(f"SELECT prefix FROM {PENDING_BLOB_DELETES}")
            ]
    for prefix in prefixes:
        blobs.delete_prefix(prefix)
        with db.write("pending blob deleted") as conn:
            conn.execute(f"DELETE FROM {PENDING_BLOB_DELETES} WHERE prefix = ?", (prefix,))
    return len(prefixes)


# --- batches --------------------------------------------------------------------------


def _older(column: str) -> str:
    # The text bound uses the index; julianday() is exact across both stored formats.
    return f'"{column}" < ? AND julianday("{column}") < julianday(?)'


def _bounds(before: datetime) -> tuple[str, str]:
    text = iso(before)
    return text, text


class ThreadPruning:
    """``prune_batch`` for :class:`~storage.sqlite.memory.SQLiteMemoryStore`.

    Idle threads (``updatedAt`` older than ``before``), oldest first, each deleted
    by the cascade ``delete_thread`` runs.
    """

    _db: SQLiteDatabase
    _blobs: BlobStore | None
    _delete_thread_rows: Callable[[sqlite3.Connection, str], tuple[str, int] | None]
    _thread_deleted: Callable[[str, str], None]

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` idle threads whole, in one transaction."""
        before = check_batch(before, limit)
        delete_pending_blobs(self._db, self._blobs)
        deleted: list[tuple[str, str]] = []
        messages = 0
        with self._db.write("prune threads") as conn:
            rows = conn.execute(
                f'SELECT id FROM {THREADS} WHERE {_older("updatedAt")} '
                'ORDER BY "updatedAt", id LIMIT ?',
                (*_bounds(before), limit),
            ).fetchall()
            for (thread_id,) in rows:
                gone = self._delete_thread_rows(conn, thread_id)
                if gone is not None:
                    deleted.append((gone[0], thread_id))
                    messages += gone[1]
        for resource_id, thread_id in deleted:
            self._thread_deleted(resource_id, thread_id)
        return {"threads": len(deleted), "messages": messages}


def _prune_table(
    db: SQLiteDatabase, table: str, column: str, before: datetime, limit: int
) -> int:
    before = check_batch(before, limit)
    with db.write(f"prune {table}") as conn:
        cursor = conn.execute(
            f'DELETE FROM "{table}" WHERE rowid IN (SELECT rowid FROM "{table}" '
            f'WHERE {_older(column)} ORDER BY "{column}" LIMIT ?)',
            (*_bounds(before), limit),
        )
        return int(cursor.rowcount)


class RunPruning:
    """``prune_batch`` for the workflow store: runs created before ``before``."""

    _db: SQLiteDatabase

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest expired runs, in one transaction."""
        return {"runs": _prune_table(self._db, WORKFLOWS, "createdAt", before, limit)}


class SpanPruning:
    """``prune_batch`` for the observability store: spans started before ``before``."""

    _db: SQLiteDatabase

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest expired spans, in one transaction."""
        return {"spans": _prune_table(self._db, SPANS, "startedAt", before, limit)}


class ScorePruning:
    """``prune_batch`` for the score store: scores created before ``before``."""

    _db: SQLiteDatabase

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest expired scores, in one transaction."""
        return {"scores": _prune_table(self._db, SCORES, "createdAt", before, limit)}


__all__ = [
    "RunPruning",
    "ScorePruning",
    "SpanPruning",
    "ThreadPruning",
    "delete_pending_blobs",
    "record_pending_blobs",
]
