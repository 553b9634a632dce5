"""``InMemoryMemoryStore``: threads, messages and resources held in dicts.

The reference semantics of :class:`storage.protocols.MemoryStore`: every other
backend is checked against what this one does, so it favours the obvious over the
fast (lists are filtered and sorted in full on each call).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from storage import validation as v
from storage.errors import ConflictError, MessageIdConflictError, NotFoundError
from storage.keys import thread_attachment_prefix
from storage.memory._common import check_time, clone, page_slice, within
from storage.memory.retention import ThreadPruning
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
from storage.vector_cascade import ForeignVectors


class InMemoryMemoryStore(ThreadPruning):
    """Threads, messages and resources in process memory (see ``MemoryStore``)."""

    def __init__(
        self, *, lock: threading.RLock | None = None, blobs: BlobStore | None = None
    ) -> None:
        self._lock = lock or threading.RLock()
        self._blobs = blobs
        self._threads: dict[str, Thread] = {}
        self._messages: dict[str, Message] = {}
        self._resources: dict[str, Resource] = {}
        self._pending_blob_prefixes: set[str] = set()
        self._vectors = ForeignVectors()

    def attach_blobs(self, blobs: BlobStore | None) -> None:
        """Delete a thread's attachments from ``blobs`` when the thread is deleted."""
        self._blobs = blobs

    def attach_vectors(self, vectors: VectorStore | None) -> None:
        """Delete vectors from ``vectors`` when their messages go or change (under the lock)."""
        self._vectors.attach(vectors, beside=False)

    def stored_message(self, message_id: str) -> Message | None:
        """The stored message itself, not a copy: for the vector store sharing the lock."""
        return self._messages.get(message_id)

    # --- threads ------------------------------------------------------------------

    def get_thread(self, thread_id: str) -> Thread | None:
        """The thread, or ``None``."""
        v.check_id(thread_id, "thread id")
        with self._lock:
            return clone(self._threads.get(thread_id))

    def save_thread(self, thread: Thread, *, if_absent: bool = False) -> Thread:
        """Create or replace a thread (only create it with ``if_absent``).

        Raises:
            ConflictError: ``if_absent`` and the id exists.
        """
        v.check_thread(thread)
        stored = clone(thread)
        with self._lock:
            if if_absent and thread.id in self._threads:
                raise ConflictError(f"thread {thread.id!r} already exists")
            self._threads[thread.id] = stored
            return clone(stored)

    def update_thread(
        self, thread_id: str, *, title: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Thread:
        """Set the title, merge ``metadata`` key by key, bump ``updated_at``.

        Raises:
            NotFoundError: no such thread.
        """
        v.check_id(thread_id, "thread id")
        patch = v.check_thread_patch(title, metadata)
        with self._lock:
            current = self._threads.get(thread_id)
            if current is None:
                raise NotFoundError(f"thread {thread_id!r} does not exist")
            updated = replace(
                current,
                title=title if title is not None else current.title,
                metadata={**current.metadata, **clone(patch)},
                updated_at=utcnow(),
            )
            self._threads[thread_id] = updated
            return clone(updated)

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread, its messages and its attachments."""
        v.check_id(thread_id, "thread id")
        with self._lock:
            self._delete_thread_locked(thread_id)

    def _delete_thread_locked(self, thread_id: str) -> int | None:
        """The thread cascade ``delete_thread`` and ``prune`` share (the lock is held).

        Returns:
            How many messages went, or ``None`` when there is no thread.
        """
        thread = self._threads.pop(thread_id, None)
        if thread is None:
            return None
        doomed = [m.id for m in self._messages.values() if m.thread_id == thread_id]
        for message_id in doomed:
            del self._messages[message_id]
        self._vectors.thread_deleted(thread_id)
        if self._blobs is not None:
            # Noted first: a blob store failing here leaves the prefix for the next prune.
            prefix = thread_attachment_prefix(thread.resource_id, thread_id)
            self._pending_blob_prefixes.add(prefix)
            self._blobs.delete_prefix(prefix)
            self._pending_blob_prefixes.discard(prefix)
        return len(doomed)

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
        """Threads of a resource (or all) whose metadata holds every pair of ``metadata``."""
        wanted = v.check_thread_listing(
            resource_id, metadata, page, per_page, order_by, direction
        )
        with self._lock:
            matches = [
                t
                for t in self._threads.values()
                if (resource_id is None or t.resource_id == resource_id)
                and all(k in t.metadata and t.metadata[k] == val for k, val in wanted.items())
            ]
            matches.sort(key=lambda t: (getattr(t, order_by), t.id), reverse=direction == "desc")
            items = clone(page_slice(matches, page, per_page))
        return page_of(items, total=len(matches), page=page, per_page=per_page)

    # --- messages -----------------------------------------------------------------

    def save_messages(
        self, messages: Sequence[Message], *, allow_move: bool = True
    ) -> list[Message]:
        """Upsert messages by id, all or nothing; bump each target thread.

        Raises:
            NotFoundError: a target thread does not exist (nothing is written).
            MessageIdConflictError: ``allow_move=False`` and an id lives in another
                thread (nothing is written).
        """
        # Moves within the batch are checked after the threads (a missing one goes first).
        batch = v.check_message_batch(messages, allow_move=True)
        with self._lock:
            for message in batch:
                if message.thread_id not in self._threads:
                    raise NotFoundError(f"thread {message.thread_id!r} does not exist")
            if not allow_move:
                v.check_no_move_within(batch)
                for message in batch:
                    existing = self._messages.get(message.id)
                    if existing is not None and existing.thread_id != message.thread_id:
                        raise MessageIdConflictError(message.id)
            stored: list[Message] = []
            before = {m.id: self._messages[m.id] for m in batch if m.id in self._messages}
            for message in batch:
                owner = self._threads[message.thread_id].resource_id
                record = clone(message)
                if record.resource_id is None:
                    record = replace(record, resource_id=owner)
                self._messages[record.id] = record
                stored.append(record)
            self._bump({m.thread_id for m in batch})
            self._vectors.messages_changed(before, stored)
            return clone(stored)

    def list_messages(
        self,
        thread_id: str,
        *,
        resource_id: str | None = None,
        include: Sequence[Include] = (),
        start: Any = None,
        end: Any = None,
        start_exclusive: bool = False,
        end_exclusive: bool = False,
        page: int = 0,
        per_page: int | None = 40,
        direction: Direction = "asc",
    ) -> Page[Message]:
        """One page of a thread's messages plus the ``include`` context windows."""
        wanted = v.check_message_listing(
            thread_id, resource_id, include, page, per_page, direction
        )
        low = check_time(start, "start")
        high = check_time(end, "end")
        with self._lock:
            own = [
                m
                for m in self._sorted_thread(thread_id)
                if (resource_id is None or m.resource_id == resource_id)
                and within(
                    m.created_at,
                    low,
                    high,
                    start_exclusive=start_exclusive,
                    end_exclusive=end_exclusive,
                )
            ]
            if direction == "desc":
                own.reverse()
            chosen = {m.id: m for m in page_slice(own, page, per_page)}
            for item in wanted:
                for m in self._context_window(item, resource_id):
                    chosen.setdefault(m.id, m)
            items = sorted(
                chosen.values(), key=lambda m: (m.created_at, m.id), reverse=direction == "desc"
            )
            items = clone(items)
        return page_of(items, total=len(own), page=page, per_page=per_page)

    def get_windows(
        self, include: Sequence[Include], *, resource_id: str | None = None
    ) -> list[Message]:
        """The ``include`` windows alone, oldest first (see ``protocols.WindowReader``).

        With ``resource_id``: nothing for an included message of another resource, and
        only that resource's messages of each window.
        """
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        wanted = v.check_includes(include)
        with self._lock:
            chosen: dict[str, Message] = {}
            for item in wanted:
                for m in self._context_window(item, resource_id):
                    chosen.setdefault(m.id, m)
            return clone(sorted(chosen.values(), key=lambda m: (m.created_at, m.id)))

    def get_messages(self, message_ids: Sequence[str]) -> list[Message]:
        """The messages with these ids, in the order asked (once each); unknown ids skipped."""
        ids = v.check_ids(message_ids, "message id")
        with self._lock:
            found: dict[str, Message] = {}
            for message_id in ids:
                message = self._messages.get(message_id)
                if message is not None:
                    found.setdefault(message_id, message)
            return clone(list(found.values()))

    def update_messages(self, updates: Sequence[MessageUpdate]) -> list[Message]:
        """Apply partial updates, all or nothing; bump every thread touched.

        Raises:
            NotFoundError: a message, or the thread a message moves to, does not exist.
        """
        batch = v.check_message_updates(updates)
        with self._lock:
            # Work on a private copy of the affected messages; commit only if all apply.
            working: dict[str, Message] = {}
            touched: set[str] = set()
            for update in batch:
                current = working.get(update.id) or self._messages.get(update.id)
                if current is None:
                    raise NotFoundError(f"message {update.id!r} does not exist")
                if update.thread_id is not None and update.thread_id not in self._threads:
                    raise NotFoundError(f"thread {update.thread_id!r} does not exist")
                updated = apply_message_update(current, clone(update))
                v.check_message(updated)
                touched.update({current.thread_id, updated.thread_id})
                working[update.id] = updated
            before = {k: self._messages[k] for k in working}
            self._messages.update(working)
            self._bump(touched)
            self._vectors.messages_changed(before, working.values())
            return clone(list(working.values()))

    def delete_messages(self, message_ids: Sequence[str]) -> None:
        """Delete messages; unknown ids are ignored; bumps the threads they were in."""
        ids = v.check_ids(message_ids, "message id")
        with self._lock:
            touched = set()
            for message_id in ids:
                message = self._messages.pop(message_id, None)
                if message is not None:
                    touched.add(message.thread_id)
            self._bump(touched)
            self._vectors.messages_deleted(ids)

    # --- resources ----------------------------------------------------------------

    def get_resource(self, resource_id: str) -> Resource | None:
        """The resource, or ``None``."""
        v.check_id(resource_id, "resource id")
        with self._lock:
            return clone(self._resources.get(resource_id))

    def delete_resource(self, resource_id: str) -> bool:
        """Delete the resource record after finishing pending blob deletions; threads
        stay. Whether there was one."""
        v.check_id(resource_id, "resource id")
        with self._lock:
            if self._blobs is not None:
                for prefix in sorted(self._pending_blob_prefixes):
                    self._blobs.delete_prefix(prefix)
                    self._pending_blob_prefixes.discard(prefix)
            return self._resources.pop(resource_id, None) is not None

    def update_resource(
        self,
        resource_id: str,
        *,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Resource:
        """Create the resource if missing, set working memory, merge metadata key by key."""
        v.check_id(resource_id, "resource id")
        patch = v.check_resource_patch(working_memory, metadata)
        with self._lock:
            now = utcnow()
            current = self._resources.get(resource_id) or Resource(
                id=resource_id, created_at=now, updated_at=now
            )
            updated = replace(
                current,
                working_memory=working_memory
                if working_memory is not None
                else current.working_memory,
                metadata={**current.metadata, **clone(patch)},
                updated_at=now,
            )
            self._resources[resource_id] = updated
            return clone(updated)

    # --- internals ----------------------------------------------------------------

    def _sorted_thread(self, thread_id: str) -> list[Message]:
        """A thread's messages by ``(created_at, id)`` ascending (caller holds the lock)."""
        return sorted(
            (m for m in self._messages.values() if m.thread_id == thread_id),
            key=lambda m: (m.created_at, m.id),
        )

    def _context_window(self, item: Include, resource_id: str | None) -> list[Message]:
        """The included message and its neighbours in its own thread.

        With ``resource_id``: nothing when the included message is another resource's,
        and only that resource's messages of the window.
        """
        target = self._messages.get(item.id)
        if target is None or resource_id not in (None, target.resource_id):
            return []
        ordered = self._sorted_thread(target.thread_id)
        index = next(i for i, m in enumerate(ordered) if m.id == item.id)
        window = ordered[max(0, index - item.with_previous) : index + item.with_next + 1]
        return [m for m in window if resource_id in (None, m.resource_id)]

    def _bump(self, thread_ids: set[str]) -> None:
        """Set ``updated_at`` of these threads (those still existing) to now."""
        now = utcnow()
        for thread_id in thread_ids:
            thread = self._threads.get(thread_id)
            if thread is not None:
                self._threads[thread_id] = replace(thread, updated_at=now)
