"""Thread operations of :class:`~storage.postgres.memory.PostgresMemoryStore`.

Each is one statement: a metadata merge is ``jsonb ||`` server side, a delete takes the
thread's messages in the same statement (``retention.thread_cascade_sql``), and a page
of threads carries its total.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.errors import ConflictError, NotFoundError
from storage.postgres import _codec as c
from storage.postgres._base import PostgresDomain
from storage.postgres._memory_sql import (
    OBJECT_OR_EMPTY,
    ORDER_COLUMN,
    THREAD_COLS,
    THREAD_RETURNING,
    thread_from_row,
    total_and_items,
)
from storage.postgres.driver import Json
from storage.postgres.retention import delete_pending_blobs, thread_cascade_sql
from storage.protocols import BlobStore, Direction, OrderBy
from storage.records import Page, Thread, page_of
from storage.timeutil import utcnow
from storage.validation import check_id, check_thread, check_thread_listing, check_thread_patch
from storage.vector_cascade import ForeignVectors


class PostgresThreadOps(PostgresDomain):
    """Get, save, update, delete (with its cascade) and list threads."""

    _blobs: BlobStore | None = None
    _foreign_vectors: ForeignVectors | None = None

    def get_thread(self, thread_id: str) -> Thread | None:
        """The thread, or ``None``."""
        check_id(thread_id, "thread id")
        self._ready()
        row = self._driver.fetch_one(
            f"SELECT {THREAD_COLS} FROM mastra_threads WHERE id = :id", {"id": thread_id}
        )
        return thread_from_row(row) if row else None

    def save_thread(self, thread: Thread, *, if_absent: bool = False) -> Thread:
        """Create or replace a thread (only create it with ``if_absent``).

        Raises:
            ConflictError: ``if_absent`` and the id exists.
        """
        check_thread(thread)
        self._ready()
        on_conflict = "DO NOTHING" if if_absent else (
            'DO UPDATE SET "resourceId" = EXCLUDED."resourceId", '
            'title = EXCLUDED.title, metadata = EXCLUDED.metadata, '
            '"createdAt" = EXCLUDED."createdAt", "createdAtZ" = EXCLUDED."createdAtZ", '
            '"updatedAt" = EXCLUDED."updatedAt", "updatedAtZ" = EXCLUDED."updatedAtZ"'
        )
        written = self._driver.execute(
            'INSERT INTO mastra_threads (id, "resourceId", title, metadata, '
            '"createdAt", "createdAtZ", "updatedAt", "updatedAtZ") '
            f"VALUES (:id, :resource_id, :title, CAST(:metadata AS jsonb), "
            f"{c.wall('created')}, {c.tstz('created')}, {c.wall('updated')}, {c.tstz('updated')}) "
            f"ON CONFLICT (id) {on_conflict}",
            {
                "id": thread.id,
                "resource_id": thread.resource_id,
                "title": thread.title or "",
                "metadata": Json(dict(thread.metadata)),
                "created": c.iso(thread.created_at),
                "updated": c.iso(thread.updated_at),
            },
        )
        if written == 0:
            raise ConflictError(f"thread {thread.id!r} already exists")
        return thread

    def update_thread(
        self,
        thread_id: str,
        *,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Thread:
        """Set the title, merge metadata key by key (``jsonb ||``, atomic), bump ``updated_at``.

        Raises:
            NotFoundError: no such thread.
        """
        check_id(thread_id, "thread id")
        patch = check_thread_patch(title, metadata)
        self._ready()
        merged = OBJECT_OR_EMPTY.format(col="metadata")
        row = self._driver.fetch_one(
            f"UPDATE mastra_threads SET title = COALESCE(CAST(:title AS text), title), "
            f"metadata = {merged} || CAST(:patch AS jsonb), {c.set_times('updatedAt', 'now')} "
            f"WHERE id = :id RETURNING {THREAD_RETURNING}",
            {"id": thread_id, "title": title, "patch": Json(patch), "now": c.iso(utcnow())},
        )
        if row is None:
            raise NotFoundError(f"thread {thread_id!r} not found")
        if not row["oversize"]:
            return thread_from_row(row)  # one round trip: the usual case
        thread = self.get_thread(thread_id)  # a big row: read back in chunks
        if thread is None:
            raise NotFoundError(f"thread {thread_id!r} was deleted while being updated")
        return thread

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread and its messages in one statement, then its attachments."""
        check_id(thread_id, "thread id")
        self._ready()
        row = self._driver.fetch_one(
            thread_cascade_sql(
                'SELECT id, "resourceId" FROM mastra_threads WHERE id = :id FOR UPDATE',
                record_blobs=self._blobs is not None,
            ),
            {"id": thread_id},
        )
        if row is not None:
            self._thread_deleted(row["resource_id"], thread_id)
        elif self._foreign_vectors is not None:
            self._foreign_vectors.thread_deleted(thread_id)

    def _thread_deleted(self, resource_id: str, thread_id: str) -> None:
        """After the commit: the deleted thread's blobs, and its vectors kept elsewhere
        (``delete_thread`` and ``prune``)."""
        delete_pending_blobs(self._driver, self._blobs, [(resource_id, thread_id)])
        if self._foreign_vectors is not None:
            self._foreign_vectors.thread_deleted(thread_id)

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
        """One page of threads and the total, in one query."""
        wanted = check_thread_listing(resource_id, metadata, page, per_page, order_by, direction)
        params: dict[str, Any] = {}
        where: list[str] = []
        if resource_id is not None:
            where.append('"resourceId" = :resource_id')
            params["resource_id"] = resource_id
        for i, (key, value) in enumerate(wanted.items()):
            # Top-level equality (jsonb "=" compares numbers by value, like Python).
            where.append(f"metadata -> CAST(:mk{i} AS text) = CAST(:mv{i} AS jsonb)")
            params[f"mk{i}"] = key
            params[f"mv{i}"] = Json(value)
        column = ORDER_COLUMN[order_by]
        dir_sql = "DESC" if direction == "desc" else "ASC"
        params["limit"] = per_page
        params["offset"] = page * per_page if per_page is not None else 0
        self._ready()
        rows = self._driver.fetch(
            f"WITH f AS (SELECT {THREAD_COLS}, {column} AS sort_key FROM mastra_threads"
            f"{' WHERE ' + ' AND '.join(where) if where else ''}), "
            f"p AS (SELECT * FROM f ORDER BY sort_key {dir_sql}, id {dir_sql} "
            "LIMIT :limit OFFSET :offset) "
            "SELECT n.total, p.* FROM (SELECT count(*) AS total FROM f) AS n "
            f"LEFT JOIN p ON true ORDER BY p.sort_key {dir_sql}, p.id {dir_sql}",
            params,
        )
        total, items = total_and_items(rows)
        threads = [thread_from_row(r) for r in items]
        return page_of(threads, total=total, page=page, per_page=per_page)
