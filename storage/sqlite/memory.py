"""``SQLiteMemoryStore``: threads, messages and resources in Mastra's tables."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from storage import validation as v
from storage.errors import ConflictError, MessageIdConflictError, NotFoundError, ValidationError
from storage.keys import thread_attachment_prefix
from storage.protocols import BlobStore, Direction, OrderBy, VectorStore
from storage.records import (
    Include,
    Message,
    MessageUpdate,
    Page,
    Resource,
    Thread,
    apply_message_update,
    page_of,
)
from storage.sqlite import _rows
from storage.sqlite._codec import dumps, iso
from storage.sqlite._sql import bound, chunks, count, direction_sql, limit_clause, marks
from storage.sqlite.db import SQLiteDatabase
from storage.sqlite.retention import ThreadPruning, delete_pending_blobs, record_pending_blobs
from storage.sqlite.schema import MESSAGES, RESOURCES, THREADS, column_is_required
from storage.timeutil import utcnow
from storage.vector_cascade import ForeignVectors

log = logging.getLogger(__name__)

_ORDER_COLUMNS = {"created_at": '"createdAt"', "updated_at": '"updatedAt"'}


class SQLiteMemoryStore(ThreadPruning):
    """Threads, messages and resources (``mastra_threads``, ``_messages``, ``_resources``).

    Args:
        db: the database (shared with the other SQLite domains of the same file).
        blobs: where a deleted thread's attachments live; set later by
            :meth:`attach_blobs` when a composite store wires one in.
    """

    def __init__(self, db: SQLiteDatabase, *, blobs: BlobStore | None = None) -> None:
        self._db = db
        self._blobs = blobs
        self._title_required: bool | None = None
        self._vectors = ForeignVectors()

    def attach_blobs(self, blobs: BlobStore | None) -> None:
        """Delete attachments from ``blobs`` when their thread is deleted."""
        self._blobs = blobs

    def attach_vectors(self, vectors: VectorStore | None) -> None:
        """Keep ``vectors`` in step: this file's own by triggers, another after each commit."""
        self._vectors.attach(vectors, beside=getattr(vectors, "db", None) is self._db)

    # --- threads ---------------------------------------------------------------------

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
        if not isinstance(thread, Thread):
            raise ValidationError(f"expected a Thread, got {type(thread).__name__}")
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
        if title is not None and not isinstance(title, str):
            raise ValidationError("thread title must be a string or None")
        if title is not None:
            v.check_json(title, "thread title")
        patch = v.check_metadata(metadata, "thread metadata") if metadata is not None else {}
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
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        wanted = v.check_metadata(metadata, "metadata filter") if metadata else {}
        v.check_paging(page, per_page)
        v.check_sort(order_by, direction)
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

    # --- messages --------------------------------------------------------------------

    def save_messages(
        self, messages: Sequence[Message], *, allow_move: bool = True
    ) -> list[Message]:
        """Upsert messages by id, all or nothing, and bump each touched thread's ``updated_at``.

        A message saved under an id that lives in another thread moves there, unless
        ``allow_move=False``. A message without ``resource_id`` takes its thread's.

        Raises:
            NotFoundError: a target thread does not exist (nothing is written).
            MessageIdConflictError: ``allow_move=False`` and an id lives in another
                thread (nothing is written: the transaction is rolled back).
        """
        if isinstance(messages, Message):
            raise ValidationError("save_messages takes a list of messages")
        for message in messages:
            if not isinstance(message, Message):
                raise ValidationError(f"expected a Message, got {type(message).__name__}")
            v.check_message(message)
        if not messages:
            return []
        if not allow_move:
            v.check_no_move_within(messages)
        # Without moves, the upsert only updates a row of the same thread; a row of
        # another thread is left alone and the save refused (rowcount 0, rolled back).
        same_thread = "" if allow_move else f" WHERE {MESSAGES}.thread_id = excluded.thread_id"
        thread_ids = list(dict.fromkeys(m.thread_id for m in messages))
        stored: list[Message] = []
        previous: dict[str, Message] = {}
        with self._db.write("save_messages") as conn:
            owners = self._thread_owners(conn, thread_ids)
            missing = [t for t in thread_ids if t not in owners]
            if missing:
                raise NotFoundError(f"thread {missing[0]!r} does not exist")
            if self._vectors.store is not None:
                # Vectors in another store: a re-save that changes a message drops its
                # vector there (this file's own go by trigger).
                previous = self._messages(conn, [m.id for m in messages])
            for message in messages:
                if message.resource_id is None:
                    message = replace(message, resource_id=owners[message.thread_id])
                cursor = conn.execute(
                    f"INSERT INTO {MESSAGES} ({_rows.MESSAGE_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                    "thread_id = excluded.thread_id, content = excluded.content, "
                    "role = excluded.role, type = excluded.type, "
                    '"createdAt" = excluded."createdAt", '
                    '"resourceId" = excluded."resourceId"' + same_thread,
                    _rows.message_params(message),
                )
                if cursor.rowcount == 0:
                    raise MessageIdConflictError(message.id)
                stored.append(message)
            self._bump(conn, set(thread_ids))
        self._vectors.messages_changed(previous, stored)
        return stored

    def list_messages(
        self,
        thread_id: str,
        *,
        resource_id: str | None = None,
        include: Sequence[Include] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        start_exclusive: bool = False,
        end_exclusive: bool = False,
        page: int = 0,
        per_page: int | None = 40,
        direction: Direction = "asc",
    ) -> Page[Message]:
        """One page of a thread's messages, plus the context windows of ``include``.

        See :meth:`storage.protocols.MemoryStore.list_messages`.
        """
        v.check_id(thread_id, "thread id")
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        include = v.check_includes(include)
        v.check_paging(page, per_page)
        v.check_direction(direction)
        where = ["thread_id = ?"]
        args: list[Any] = [thread_id]
        if resource_id is not None:
            where.append('"resourceId" = ?')
            args.append(resource_id)
        if start is not None:
            where.append(f'"createdAt" {">" if start_exclusive else ">="} ?')
            args.append(bound(start, "start"))
        if end is not None:
            where.append(f'"createdAt" {"<" if end_exclusive else "<="} ?')
            args.append(bound(end, "end"))
        clause = " AND ".join(where)
        order = direction_sql(direction)
        limit, limit_args = limit_clause(page, per_page)
        with self._db.read("list_messages") as conn:
            total = count(conn, f"SELECT COUNT(*) FROM {MESSAGES} WHERE {clause}", args)
            found: dict[str, Message] = {}
            if per_page != 0:
                rows = conn.execute(
                    f"SELECT {_rows.MESSAGE_COLUMNS} FROM {MESSAGES} WHERE {clause} "
                    f'ORDER BY "createdAt" {order}, id {order}{limit}',
                    [*args, *limit_args],
                ).fetchall()
                for row in rows:
                    found[row[0]] = _rows.message_from_row(row)
            for item in include:
                for message in self._context_window(conn, item, resource_id):
                    found.setdefault(message.id, message)
        items = sorted(found.values(), key=lambda m: (m.created_at, m.id), reverse=order == "DESC")
        return page_of(items, total=total, page=page, per_page=per_page)

    def get_messages(self, message_ids: Sequence[str]) -> list[Message]:
        """The messages with these ids, in the order asked (once each); unknown ids skipped."""
        ids = v.check_ids(message_ids, "message id")
        with self._db.read("get_messages") as conn:
            found = self._messages(conn, ids)
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def update_messages(self, updates: Sequence[MessageUpdate]) -> list[Message]:
        """Apply partial updates, all or nothing; bump every thread touched.

        Returns:
            Each updated message once, as finally stored, in the order first named.

        Raises:
            NotFoundError: a message, or the thread a message moves to, does not exist.
        """
        if isinstance(updates, MessageUpdate):
            raise ValidationError("update_messages takes a list of MessageUpdate")
        for update in updates:
            v.check_message_update(update)
        if not updates:
            return []
        results: list[Message] = []
        with self._db.write("update_messages") as conn:
            current = self._messages(conn, list(dict.fromkeys(u.id for u in updates)))
            missing = [u.id for u in updates if u.id not in current]
            if missing:
                raise NotFoundError(f"message {missing[0]!r} does not exist")
            previous = dict(current)
            targets = [u.thread_id for u in updates if u.thread_id is not None]
            owners = self._thread_owners(conn, targets)
            absent = [t for t in targets if t not in owners]
            if absent:
                raise NotFoundError(f"thread {absent[0]!r} does not exist")
            touched: set[str] = set()
            for update in updates:
                before = current[update.id]
                after = apply_message_update(before, update)
                v.check_message(after)
                current[update.id] = after
                touched.update({before.thread_id, after.thread_id})
                results.append(after)
            final = list({m.id: current[m.id] for m in results}.values())
            for message in final:
                conn.execute(
                    f"UPDATE {MESSAGES} SET thread_id = ?, content = ?, role = ? WHERE id = ?",
                    (message.thread_id, dumps(message.content), message.role, message.id),
                )
            self._bump(conn, touched)
        self._vectors.messages_changed(previous, final)
        return final

    def delete_messages(self, message_ids: Sequence[str]) -> None:
        """Delete messages; unknown ids are ignored; bumps the threads they were in."""
        ids = list(dict.fromkeys(v.check_ids(message_ids, "message id")))
        if not ids:
            return
        with self._db.write("delete_messages") as conn:
            threads = set(self._current_threads(conn, ids).values())
            for batch in chunks(ids):
                conn.execute(f"DELETE FROM {MESSAGES} WHERE id IN ({marks(len(batch))})", batch)
            self._bump(conn, threads)
        self._vectors.messages_deleted(ids)

    # --- resources -------------------------------------------------------------------

    def get_resource(self, resource_id: str) -> Resource | None:
        """The resource, or ``None``."""
        v.check_id(resource_id, "resource id")
        with self._db.read("get_resource") as conn:
            return self._resource(conn, resource_id)

    def delete_resource(self, resource_id: str) -> bool:
        """Delete the resource record after finishing pending blob deletions; threads stay."""
        v.check_id(resource_id, "resource id")
        delete_pending_blobs(self._db, self._blobs)
        with self._db.write("delete_resource") as conn:
            cursor = conn.execute(f"DELETE FROM {RESOURCES} WHERE id = ?", (resource_id,))
            return int(cursor.rowcount) > 0

    def update_resource(
        self,
        resource_id: str,
        *,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Resource:
        """Create the resource if missing, set working memory, merge metadata key by key."""
        v.check_id(resource_id, "resource id")
        if working_memory is not None:
            if not isinstance(working_memory, str):
                raise ValidationError("working memory must be a string")
            v.check_json(working_memory, "working memory")
        patch = v.check_metadata(metadata, "resource metadata") if metadata is not None else {}
        now = utcnow()
        with self._db.write("update_resource") as conn:
            current = self._resource(conn, resource_id)
            if current is None:
                resource = Resource(
                    id=resource_id, working_memory=working_memory, metadata=patch,
                    created_at=now, updated_at=now,
                )
            else:
                resource = replace(
                    current,
                    working_memory=(
                        working_memory if working_memory is not None else current.working_memory
                    ),
                    metadata={**current.metadata, **patch},
                    updated_at=now,
                )
            conn.execute(
                f"INSERT INTO {RESOURCES} ({_rows.RESOURCE_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                'ON CONFLICT(id) DO UPDATE SET "workingMemory" = excluded."workingMemory", '
                'metadata = excluded.metadata, "updatedAt" = excluded."updatedAt"',
                (
                    resource.id,
                    resource.working_memory,
                    dumps(resource.metadata),
                    iso(resource.created_at),
                    iso(resource.updated_at),
                ),
            )
        return resource

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

    @staticmethod
    def _resource(conn: sqlite3.Connection, resource_id: str) -> Resource | None:
        row = conn.execute(
            f"SELECT {_rows.RESOURCE_COLUMNS} FROM {RESOURCES} WHERE id = ?", (resource_id,)
        ).fetchone()
        return _rows.resource_from_row(row) if row is not None else None

    @staticmethod
    def _thread_owners(conn: sqlite3.Connection, thread_ids: Sequence[str]) -> dict[str, str]:
        """thread id -> resource id, for the threads that exist."""
        owners: dict[str, str] = {}
        for batch in chunks(list(dict.fromkeys(thread_ids))):
            owners.update(
                conn.execute(
                    f'SELECT id, "resourceId" FROM {THREADS} WHERE id IN ({marks(len(batch))})',
                    batch,
                ).fetchall()
            )
        return owners

    @staticmethod
    def _current_threads(conn: sqlite3.Connection, message_ids: Sequence[str]) -> dict[str, str]:
        """message id -> the thread it is in now, for the messages that exist."""
        threads: dict[str, str] = {}
        for batch in chunks(list(dict.fromkeys(message_ids))):
            threads.update(
                conn.execute(
                    f"SELECT id, thread_id FROM {MESSAGES} WHERE id IN ({marks(len(batch))})",
                    batch,
                ).fetchall()
            )
        return threads

    @staticmethod
    def _messages(conn: sqlite3.Connection, message_ids: Sequence[str]) -> dict[str, Message]:
        found: dict[str, Message] = {}
        for batch in chunks(list(dict.fromkeys(message_ids))):
            rows = conn.execute(
                f"SELECT {_rows.MESSAGE_COLUMNS} FROM {MESSAGES} WHERE id IN ({marks(len(batch))})",
                batch,
            ).fetchall()
            for row in rows:
                found[row[0]] = _rows.message_from_row(row)
        return found

    @staticmethod
    def _context_window(
        conn: sqlite3.Connection, item: Include, resource_id: str | None
    ) -> list[Message]:
        """The included message and its neighbours in its own thread, by (createdAt, id).

        With ``resource_id``: nothing when the included message is another resource's,
        and only that resource's messages of the window.
        """
        row = conn.execute(
            f"SELECT {_rows.MESSAGE_COLUMNS} FROM {MESSAGES} WHERE id = ?", (item.id,)
        ).fetchone()
        if row is None:
            return []
        target = _rows.message_from_row(row)
        if resource_id not in (None, target.resource_id):
            return []
        window = [target]
        key = (target.thread_id, row[5], row[5], target.id)
        if item.with_previous:
            window += [
                _rows.message_from_row(r)
                for r in conn.execute(
                    f"SELECT {_rows.MESSAGE_COLUMNS} FROM {MESSAGES} WHERE thread_id = ? AND "
                    '("createdAt" < ? OR ("createdAt" = ? AND id < ?)) '
                    'ORDER BY "createdAt" DESC, id DESC LIMIT ?',
                    (*key, item.with_previous),
                )
            ]
        if item.with_next:
            window += [
                _rows.message_from_row(r)
                for r in conn.execute(
                    f"SELECT {_rows.MESSAGE_COLUMNS} FROM {MESSAGES} WHERE thread_id = ? AND "
                    '("createdAt" > ? OR ("createdAt" = ? AND id > ?)) '
                    'ORDER BY "createdAt" ASC, id ASC LIMIT ?',
                    (*key, item.with_next),
                )
            ]
        return [m for m in window if resource_id in (None, m.resource_id)]

    @staticmethod
    def _bump(conn: sqlite3.Connection, thread_ids: set[str]) -> None:
        if not thread_ids:
            return
        now = iso(utcnow())
        ids = sorted(thread_ids)
        for batch in chunks(ids):
            conn.execute(
                f'UPDATE {THREADS} SET "updatedAt" = ? WHERE id IN ({marks(len(batch))})',
                [now, *batch],
            )
