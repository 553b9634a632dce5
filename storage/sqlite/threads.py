"""Thread operations of :class:`~storage.sqlite.memory.SQLiteMemoryStore` (``mastra_threads``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from storage import validation as v
from storage.errors import ConflictError, NotFoundError
from storage.keys import thread_attachment_prefix
from storage.protocols import BlobStore, Direction, OrderBy
from storage.records import Page, Thread, page_of
from storage.sqlite import _rows
from storage.sqlite._codec import dumps, iso
from storage.sqlite._sql import direction_sql, limit_clause
from storage.sqlite.db import SQLiteDatabase
from storage.sqlite.retention import delete_pending_blobs, record_pending_blobs
from storage.sqlite.schema import MESSAGES, THREADS, column_is_required
from storage.timeutil import utcnow
from storage.vector_cascade import ForeignVectors

_ORDER_COLUMNS = {"created_at": '"createdAt"', "updated_at": '"updatedAt"'}


class SQLiteThreadOps:
    """Get, save, update, delete (with its cascade) and list threads."""

    _db: SQLiteDatabase
    _blobs: BlobStore | None
    _vectors: ForeignVectors
    _title_required: bool | None

    def get_thread(self, thread_id: str) -> Thread | None:
        """The thread, or ``None``."""
        v.check_id(thread_id, "thread id")
        with self._db.read("get_thread") as conn:
            return self._thread(conn, thread_id)

    def save_thread(self, thread: Thread, *, if_absent: bool = False) -> Thread:
        """Create or replace a thread (only create it with ``if_absent``).

        Raises:
            ConflictError: ``if_absent`` and the id exists.
        """
        v.check_thread(thread)
        on_conflict = "DO NOTHING" if if_absent else (
            'DO UPDATE SET "resourceId" = excluded."resourceId", '
            "title = excluded.title, metadata = excluded.metadata, "
            '"createdAt" = excluded."createdAt", "updatedAt" = excluded."updatedAt"'
        )
        with self._db.write("save_thread") as conn:
            written = conn.execute(
                f"INSERT INTO {THREADS} ({_rows.THREAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT(id) {on_conflict}",
                (
                    thread.id,
                    thread.resource_id,
                    self._title_value(conn, thread.title),
                    dumps(thread.metadata),
                    iso(thread.created_at),
                    iso(thread.updated_at),
                ),
            )
            if written.rowcount == 0:
                raise ConflictError(f"thread {thread.id!r} already exists")
        return thread

    def update_thread(
        self, thread_id: str, *, title: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Thread:
        """Set the title and merge ``metadata`` key by key, atomically; bump ``updated_at``.

        Raises:
            NotFoundError: no such thread.
        """
        v.check_id(thread_id, "thread id")
        patch = v.check_thread_patch(title, metadata)
        with self._db.write("update_thread") as conn:
            current = self._thread(conn, thread_id)
            if current is None:
                raise NotFoundError(f"thread {thread_id!r} does not exist")
            updated = replace(
                current,
                title=title if title is not None else current.title,
                metadata={**current.metadata, **patch},
                updated_at=utcnow(),
            )
            conn.execute(
                f'UPDATE {THREADS} SET title = ?, metadata = ?, "updatedAt" = ? WHERE id = ?',
                (
                    self._title_value(conn, updated.title),
                    dumps(updated.metadata),
                    iso(updated.updated_at),
                    thread_id,
                ),
            )
        return updated

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread, its messages and its attachments in the attached blob store."""
        v.check_id(thread_id, "thread id")
        with self._db.write("delete_thread") as conn:
            gone = self._delete_thread_rows(conn, thread_id)
        if gone is not None:
            self._thread_deleted(gone[0], thread_id)
        else:
            self._vectors.thread_deleted(thread_id)

    def _delete_thread_rows(
        self, conn: sqlite3.Connection, thread_id: str
    ) -> tuple[str, int] | None:
        """The thread cascade's rows (``delete_thread`` and ``prune`` share it).

        Returns:
            ``(resource id, messages deleted)``, or ``None`` when there is no thread.
        """
        row = conn.execute(
            f'SELECT "resourceId" FROM {THREADS} WHERE id = ?', (thread_id,)
        ).fetchone()
        if row is None:
            return None
        messages = conn.execute(f"DELETE FROM {MESSAGES} WHERE thread_id = ?", (thread_id,))
        conn.execute(f"DELETE FROM {THREADS} WHERE id = ?", (thread_id,))
        if self._blobs is not None:
            # Blobs go after the commit (a message never points at a missing blob); the
            # record makes a crash before then finish on the next prune.
            record_pending_blobs(conn, thread_attachment_prefix(row[0], thread_id))
        return row[0], int(messages.rowcount)

    def _thread_deleted(self, resource_id: str, thread_id: str) -> None:
        """After the commit: the deleted thread's blobs, and its vectors kept elsewhere."""
        delete_pending_blobs(
            self._db, self._blobs, [thread_attachment_prefix(resource_id, thread_id)]
        )
        self._vectors.thread_deleted(thread_id)

    def list_threads(
        self,
        *,
        resource_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: OrderBy = "created_at",
        direction: Direction = "desc",
    ) -> Page[Thread]:
        """Threads of a resource (or all), filtered by top-level metadata equality.

        Sorted on ``order_by`` then ``id``, both in ``direction``.
        """
        wanted = v.check_thread_listing(
            resource_id, metadata, page, per_page, order_by, direction
        )
        where: list[str] = []
        args: list[Any] = []
        if resource_id is not None:
            where.append('"resourceId" = ?')
            args.append(resource_id)
        if wanted:
            where.append("stowage_metadata_matches(metadata, ?)")
            args.append(dumps(wanted))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order = direction_sql(direction)
        limit, limit_args = limit_clause(page, per_page)
        with self._db.read("list_threads") as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM {THREADS}{clause}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_rows.THREAD_COLUMNS} FROM {THREADS}{clause} "
                f"ORDER BY {_ORDER_COLUMNS[order_by]} {order}, id {order}{limit}",
                [*args, *limit_args],
            ).fetchall()
        return page_of(
            [_rows.thread_from_row(r) for r in rows], total=total, page=page, per_page=per_page
        )

    # --- helpers (inside a transaction) ----------------------------------------------

    def _title_value(self, conn: sqlite3.Connection, title: str | None) -> str | None:
        # A mastra_threads table Mastra created has title NOT NULL: untitled is ''.
        if self._title_required is None:
            self._title_required = column_is_required(conn, THREADS, "title")
        return "" if title is None and self._title_required else title

    @staticmethod
    def _thread(conn: sqlite3.Connection, thread_id: str) -> Thread | None:
        row = conn.execute(
            f"SELECT {_rows.THREAD_COLUMNS} FROM {THREADS} WHERE id = ?", (thread_id,)
        ).fetchone()
        return _rows.thread_from_row(row) if row is not None else None
