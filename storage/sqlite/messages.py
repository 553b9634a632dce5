"""Message operations of :class:`~storage.sqlite.memory.SQLiteMemoryStore` (``mastra_messages``).

Every write runs in one transaction and bumps the ``updatedAt`` of the threads it touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from storage import validation as v
from storage.errors import MessageIdConflictError, NotFoundError
from storage.protocols import Direction
from storage.records import Include, Message, MessageUpdate, Page, apply_message_update, page_of
from storage.sqlite import _rows
from storage.sqlite._codec import dumps, iso
from storage.sqlite._sql import (
    bound,
    chunks,
    count,
    direction_sql,
    limit_clause,
    marks,
    select_in,
)
from storage.sqlite.db import SQLiteDatabase
from storage.sqlite.schema import MESSAGES, THREADS
from storage.timeutil import utcnow
from storage.vector_cascade import ForeignVectors


class SQLiteMessageOps:
    """Save, list, get, update and delete messages (with include windows)."""

    _db: SQLiteDatabase
    _vectors: ForeignVectors

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
        messages = v.check_message_batch(messages, allow_move=allow_move)
        if not messages:
            return []
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
        include = v.check_message_listing(
            thread_id, resource_id, include, page, per_page, direction
        )
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
        updates = v.check_message_updates(updates)
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

    # --- helpers (inside a transaction) ----------------------------------------------

    @staticmethod
    def _thread_owners(conn: sqlite3.Connection, thread_ids: Sequence[str]) -> dict[str, str]:
        """thread id -> resource id, for the threads that exist."""
        sql = f'SELECT id, "resourceId" FROM {THREADS} WHERE id IN ({{marks}})'
        return dict(select_in(conn, sql, thread_ids))

    @staticmethod
    def _current_threads(conn: sqlite3.Connection, message_ids: Sequence[str]) -> dict[str, str]:
        """message id -> the thread it is in now, for the messages that exist."""
        sql = f"SELECT id, thread_id FROM {MESSAGES} WHERE id IN ({{marks}})"
        return dict(select_in(conn, sql, message_ids))

    @staticmethod
    def _messages(conn: sqlite3.Connection, message_ids: Sequence[str]) -> dict[str, Message]:
        """message id -> message, for the messages that exist."""
        sql = f"SELECT {_rows.MESSAGE_COLUMNS} FROM {MESSAGES} WHERE id IN ({{marks}})"
        return {row[0]: _rows.message_from_row(row) for row in select_in(conn, sql, message_ids)}

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
