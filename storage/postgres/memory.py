"""Threads, messages and resources in Mastra's ``mastra_threads``/``_messages``/``_resources``.

Every logical operation is one statement where SQL allows it (data-modifying CTEs),
so it is atomic without an explicit transaction and costs one round trip: a turn
(``save_messages``) checks and locks its threads, upserts the messages and bumps
the threads in a single statement. Only ``update_messages``, which deep-merges JSON
in Python, reads and then writes inside a transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from storage.errors import ConflictError, NotFoundError, ValidationError
from storage.postgres import _codec as c
from storage.postgres._base import PostgresDomain
from storage.postgres._memory_sql import (
    MESSAGE_COLS,
    OBJECT_OR_EMPTY,
    ORDER_COLUMN,
    RESOURCE_COLS,
    RESOURCE_RETURNING,
    THREAD_COLS,
    THREAD_RETURNING,
    check_includes,
    message_from_row,
    resource_from_row,
    save_rows,
    split_rows,
    thread_from_row,
    total_and_items,
    with_resource,
)
from storage.postgres.driver import Json, Session
from storage.postgres.retention import ThreadPruning, delete_pending_blobs, thread_cascade_sql
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
from storage.timeutil import utcnow
from storage.validation import (
    check_direction,
    check_id,
    check_ids,
    check_json,
    check_message,
    check_message_update,
    check_metadata,
    check_no_move_within,
    check_paging,
    check_sort,
    check_thread,
)
from storage.vector_cascade import ForeignVectors

log = logging.getLogger(__name__)


class PostgresMemoryStore(ThreadPruning, PostgresDomain):
    """The ``memory`` domain on PostgreSQL, in Mastra's tables."""

    _blobs: BlobStore | None = None
    _foreign_vectors: ForeignVectors | None = None

    def attach_blobs(self, blobs: BlobStore | None) -> None:
        """Delete a thread's attachments from ``blobs`` when the thread is deleted."""
        self._blobs = blobs

    def attach_vectors(self, vectors: VectorStore | None) -> None:
        """Keep ``vectors`` in step: this database's by triggers, another after each write."""
        self._foreign_vectors = ForeignVectors()
        self._foreign_vectors.attach(
            vectors, beside=getattr(vectors, "driver", None) is self._driver
        )

    # --- threads ----------------------------------------------------------------------

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
        if not isinstance(thread, Thread):
            raise ValidationError(f"expected a Thread, got {type(thread).__name__}")
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
        if title is not None and not isinstance(title, str):
            raise ValidationError("thread title must be a string or None")
        patch = check_metadata(metadata, "thread metadata") if metadata is not None else {}
        if title is not None:
            check_json(title, "thread title")
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
        check_paging(page, per_page)
        check_sort(order_by, direction)
        params: dict[str, Any] = {}
        where: list[str] = []
        if resource_id is not None:
            check_id(resource_id, "resource id")
            where.append('"resourceId" = :resource_id')
            params["resource_id"] = resource_id
        for i, (key, value) in enumerate(check_metadata(metadata or {}, "metadata filter").items()):
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

    # --- messages ---------------------------------------------------------------------

    def save_messages(
        self, messages: Sequence[Message], *, allow_move: bool = True
    ) -> list[Message]:
        """Upsert messages and bump their threads, all in one statement (one round trip).

        Raises:
            NotFoundError: a target thread does not exist (nothing is written).
            MessageIdConflictError: ``allow_move=False`` and an id lives in another
                thread (nothing is written: the statement fails whole).
        """
        if isinstance(messages, Message):
            raise ValidationError("save_messages takes a list of messages")
        batch = list(messages)
        for message in batch:
            if not isinstance(message, Message):
                raise ValidationError(f"expected a Message, got {type(message).__name__}")
            check_message(message)
        if not batch:
            return []
        if not allow_move:
            check_no_move_within(batch)
        # A batch naming one id twice: the last one wins (one row can change once).
        unique = list({m.id: m for m in batch}.values())
        rows = [
            {
                "id": m.id,
                "thread_id": m.thread_id,
                "content": c.dumps(m.content),
                "role": m.role,
                "type": m.type,
                "created_at": c.iso(m.created_at),
                "resource_id": m.resource_id,
            }
            for m in unique
        ]
        self._ready()
        foreign = self._foreign_vectors
        previous: dict[str, Message] = {}
        if foreign is not None and foreign.store is not None:
            # Vectors in another store: a re-save that changes a message drops its vector
            # there (one more read, only in that set-up; this database's go by trigger).
            previous = {m.id: m for m in self.get_messages([m.id for m in unique])}
        now = c.iso(utcnow())
        threads = sorted({m.thread_id for m in batch})
        chunks = split_rows(rows, self._driver.max_statement_bytes)
        if len(chunks) == 1:
            resources = save_rows(self._driver, rows, now, threads, allow_move=allow_move)
        else:
            # Over the Data API's request limit: several statements, one transaction.
            def body(tx: Session) -> dict[str, Any]:
                saved: dict[str, Any] = {}
                for chunk in chunks:
                    saved.update(save_rows(tx, chunk, now, threads, allow_move=allow_move))
                return saved

            resources = self._driver.transaction(body)
        saved = [with_resource(m, resources.get(m.id)) for m in batch]
        if previous and foreign is not None:
            foreign.messages_changed(previous, saved)
        return saved

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
        """A page of a thread's messages plus include windows and the total, in one query."""
        check_id(thread_id, "thread id")
        check_paging(page, per_page)
        check_direction(direction)
        params: dict[str, Any] = {"thread_id": thread_id}
        where = ["thread_id = :thread_id"]
        if resource_id is not None:
            check_id(resource_id, "resource id")
            where.append('"resourceId" = :resource_id')
            params["resource_id"] = resource_id
        if start is not None:
            where.append(f'"createdAt" {">" if start_exclusive else ">="} {c.wall("start")}')
            params["start"] = c.time_param(start, "start")
        if end is not None:
            where.append(f'"createdAt" {"<" if end_exclusive else "<="} {c.wall("end")}')
            params["end"] = c.time_param(end, "end")
        includes = check_includes(include)
        dir_sql = "DESC" if direction == "desc" else "ASC"
        params["limit"] = per_page
        params["offset"] = page * per_page if per_page is not None else 0
        ctes = [
            f'f AS (SELECT id, "createdAt" FROM mastra_messages WHERE {" AND ".join(where)})',
            f'p AS (SELECT id FROM f ORDER BY "createdAt" {dir_sql}, id {dir_sql} '
            "LIMIT :limit OFFSET :offset)",
        ]
        ids = "SELECT id FROM p"
        if includes:
            params["include"] = Json(includes)
            ctes += [
                "inc AS (SELECT x.id, x.prev, x.next FROM jsonb_to_recordset("
                "CAST(:include AS jsonb)) AS x(id text, prev int, next int))",
                "tgt AS (SELECT inc.id, inc.prev, inc.next, m.thread_id FROM inc "
                "JOIN mastra_messages m ON m.id = inc.id"
                + (' WHERE m."resourceId" = :resource_id' if resource_id is not None else "")
                + ")",
                'ranked AS (SELECT m.id, m.thread_id, m."resourceId", row_number() OVER '
                '(PARTITION BY m.thread_id ORDER BY m."createdAt", m.id) AS rn '
                "FROM mastra_messages m WHERE m.thread_id IN (SELECT thread_id FROM tgt))",
                "ctx AS (SELECT r.id FROM tgt JOIN ranked t ON t.id = tgt.id "
                "JOIN ranked r ON r.thread_id = t.thread_id "
                "AND r.rn BETWEEN t.rn - tgt.prev AND t.rn + tgt.next"
                # A resource bounds the windows too: never another resource's messages.
                + (' WHERE r."resourceId" = :resource_id' if resource_id is not None else "")
                + ")",
            ]
            ids = "SELECT id FROM p UNION SELECT id FROM ctx"
        ctes.append(f"ids AS ({ids})")
        self._ready()
        rows = self._driver.fetch(
            f"WITH {', '.join(ctes)} "
            f"SELECT n.total, {MESSAGE_COLS} FROM (SELECT count(*) AS total FROM f) AS n "
            "LEFT JOIN (mastra_messages m JOIN ids ON ids.id = m.id) ON true "
            f'ORDER BY m."createdAt" {dir_sql}, m.id {dir_sql}',
            params,
        )
        total, items = total_and_items(rows)
        messages = [message_from_row(r) for r in items]
        return page_of(messages, total=total, page=page, per_page=per_page)

    def get_messages(self, message_ids: Sequence[str]) -> list[Message]:
        """The messages with these ids, in the order asked; unknown ids are skipped."""
        ids = check_ids(message_ids, "message id")
        if not ids:
            return []
        self._ready()
        rows = self._driver.fetch(
            f"SELECT {MESSAGE_COLS} FROM mastra_messages m WHERE m.id IN {c.in_ids('ids')}",
            {"ids": c.id_list(ids)},
        )
        return [message_from_row(r) for r in c.ordered(rows, ids, key=lambda r: r["id"])]

    def update_messages(self, updates: Sequence[MessageUpdate]) -> list[Message]:
        """Apply partial updates in one transaction: lock and read, merge, write + bump.

        Raises:
            NotFoundError: a message, or the thread a message moves to, does not exist.
        """
        batch = list(updates)
        for update in batch:
            check_message_update(update)
        if not batch:
            return []
        ids = list(dict.fromkeys(u.id for u in batch))
        targets = sorted({u.thread_id for u in batch if u.thread_id is not None})
        self._ready()
        previous: dict[str, Message] = {}

        def body(tx: Session) -> list[Message]:
            previous.clear()
            rows = tx.fetch(
                f"SELECT {MESSAGE_COLS} FROM mastra_messages m WHERE m.id IN {c.in_ids('ids')} "
                "ORDER BY m.id FOR UPDATE",
                {"ids": c.id_list(ids)},
            )
            current = {r["id"]: message_from_row(r) for r in rows}
            previous.update(current)
            for i in ids:
                if i not in current:
                    raise NotFoundError(f"message {i!r} not found")
            if targets:
                found = tx.fetch(
                    f"SELECT id FROM mastra_threads WHERE id IN {c.in_ids('ids')} FOR SHARE",
                    {"ids": c.id_list(targets)},
                )
                known = {r["id"] for r in found}
                for t in targets:
                    if t not in known:
                        raise NotFoundError(f"thread {t!r} not found")
            touched = {m.thread_id for m in current.values()}
            for update in batch:
                current[update.id] = apply_message_update(current[update.id], update)
                check_message(current[update.id])
            touched |= {m.thread_id for m in current.values()}
            rows_json = [
                {
                    "id": m.id,
                    "thread_id": m.thread_id,
                    "role": m.role,
                    "content": c.dumps(m.content),
                }
                for m in current.values()
            ]
            tx.execute(
                "WITH input AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
                "AS x(id text, thread_id text, role text, content text)), "
                "changed AS (UPDATE mastra_messages m SET thread_id = i.thread_id, "
                "role = i.role, content = i.content FROM input i WHERE m.id = i.id RETURNING m.id) "
                f"UPDATE mastra_threads SET {c.set_times('updatedAt', 'now')} "
                f"WHERE id IN {c.in_ids('threads')}",
                {
                    "rows": Json(rows_json),
                    "threads": c.id_list(sorted(touched)),
                    "now": c.iso(utcnow()),
                },
            )
            return [current[i] for i in ids]

        updated = self._driver.transaction(body)
        if self._foreign_vectors is not None:
            self._foreign_vectors.messages_changed(previous, updated)
        return updated

    def delete_messages(self, message_ids: Sequence[str]) -> None:
        """Delete messages and bump the threads they were in, in one statement."""
        ids = check_ids(message_ids, "message id")
        if not ids:
            return
        self._ready()
        self._driver.execute(
            f"WITH gone AS (DELETE FROM mastra_messages WHERE id IN {c.in_ids('ids')} "
            "RETURNING thread_id) "
            f"UPDATE mastra_threads SET {c.set_times('updatedAt', 'now')} "
            "WHERE id IN (SELECT thread_id FROM gone)",
            {"ids": c.id_list(ids), "now": c.iso(utcnow())},
        )
        if self._foreign_vectors is not None:
            self._foreign_vectors.messages_deleted(ids)

    # --- resources --------------------------------------------------------------------

    def get_resource(self, resource_id: str) -> Resource | None:
        """The resource, or ``None``."""
        check_id(resource_id, "resource id")
        self._ready()
        row = self._driver.fetch_one(
            f"SELECT {RESOURCE_COLS} FROM mastra_resources WHERE id = :id", {"id": resource_id}
        )
        return resource_from_row(row) if row else None

    def delete_resource(self, resource_id: str) -> bool:
        """Delete the resource record after finishing pending blob deletions; threads stay."""
        check_id(resource_id, "resource id")
        self._ready()
        delete_pending_blobs(self._driver, self._blobs)
        return self._driver.execute(
            "DELETE FROM mastra_resources WHERE id = :id", {"id": resource_id}
        ) > 0

    def update_resource(
        self,
        resource_id: str,
        *,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Resource:
        """Create the resource if missing, set working memory, merge metadata: one upsert."""
        check_id(resource_id, "resource id")
        if working_memory is not None:
            if not isinstance(working_memory, str):
                raise ValidationError("working memory must be a string or None")
            check_json(working_memory, "working memory")
        patch = check_metadata(metadata, "resource metadata") if metadata is not None else {}
        sets = [
            f"metadata = {OBJECT_OR_EMPTY.format(col='r.metadata')} || EXCLUDED.metadata",
            '"updatedAt" = EXCLUDED."updatedAt"',
            '"updatedAtZ" = EXCLUDED."updatedAtZ"',
        ]
        if working_memory is not None:
            sets.insert(0, '"workingMemory" = EXCLUDED."workingMemory"')
        self._ready()
        row = self._driver.fetch_one(
            'INSERT INTO mastra_resources AS r (id, "workingMemory", metadata, '
            '"createdAt", "createdAtZ", "updatedAt", "updatedAtZ") '
            "VALUES (:id, :working_memory, CAST(:patch AS jsonb), "
            f"{c.wall('now')}, {c.tstz('now')}, {c.wall('now')}, {c.tstz('now')}) "
            f"ON CONFLICT (id) DO UPDATE SET {', '.join(sets)} "
            f"RETURNING {RESOURCE_RETURNING}",
            {
                "id": resource_id,
                "working_memory": working_memory,
                "patch": Json(patch),
                "now": c.iso(utcnow()),
            },
        )
        assert row is not None
        if not row["oversize"]:
            return resource_from_row(row)
        resource = self.get_resource(resource_id)  # a big row: read back in chunks
        if resource is None:
            raise NotFoundError(f"resource {resource_id!r} was deleted while being updated")
        return resource
