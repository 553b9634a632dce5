"""Message operations of :class:`~storage.postgres.memory.PostgresMemoryStore`.

Every logical operation is one statement where SQL allows it (data-modifying CTEs),
so it is atomic without an explicit transaction and costs one round trip: a turn
(``save_messages``) checks and locks its threads, upserts the messages and bumps
the threads in a single statement. Only ``update_messages``, which deep-merges JSON
in Python, reads and then writes inside a transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.errors import NotFoundError
from storage.postgres import _codec as c
from storage.postgres._base import PostgresDomain
from storage.postgres._memory_sql import (
    MESSAGE_COLS,
    include_rows,
    message_from_row,
    save_rows,
    split_rows,
    total_and_items,
    with_resource,
)
from storage.postgres.driver import Json, Session
from storage.protocols import Direction
from storage.records import Include, Message, MessageUpdate, Page, apply_message_update, page_of
from storage.timeutil import utcnow
from storage.validation import (
    check_ids,
    check_message,
    check_message_batch,
    check_message_listing,
    check_message_updates,
)
from storage.vector_cascade import ForeignVectors


class PostgresMessageOps(PostgresDomain):
    """Save, list, get, update and delete messages (with include windows)."""

    _foreign_vectors: ForeignVectors | None = None

    def save_messages(
        self, messages: Sequence[Message], *, allow_move: bool = True
    ) -> list[Message]:
        """Upsert messages and bump their threads, all in one statement (one round trip).

        Raises:
            NotFoundError: a target thread does not exist (nothing is written).
            MessageIdConflictError: ``allow_move=False`` and an id lives in another
                thread (nothing is written: the statement fails whole).
        """
        batch = check_message_batch(messages, allow_move=allow_move)
        if not batch:
            return []
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
        includes = include_rows(
            check_message_listing(thread_id, resource_id, include, page, per_page, direction)
        )
        params: dict[str, Any] = {"thread_id": thread_id}
        where = ["thread_id = :thread_id"]
        if resource_id is not None:
            where.append('"resourceId" = :resource_id')
            params["resource_id"] = resource_id
        if start is not None:
            where.append(f'"createdAt" {">" if start_exclusive else ">="} {c.wall("start")}')
            params["start"] = c.time_param(start, "start")
        if end is not None:
            where.append(f'"createdAt" {"<" if end_exclusive else "<="} {c.wall("end")}')
            params["end"] = c.time_param(end, "end")
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
        batch = check_message_updates(updates)
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
