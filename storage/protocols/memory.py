"""The ``memory`` domain: threads, messages and resources.

Part of :mod:`storage.protocols` (the contract; import the names from there)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from storage.records import Include, Message, MessageUpdate, Page, Resource, Thread

OrderBy = Literal["created_at", "updated_at"]
Direction = Literal["asc", "desc"]


@runtime_checkable
class MemoryStore(Protocol):
    """Threads, messages and resources."""

    def get_thread(self, thread_id: str) -> Thread | None:
        """The thread, or ``None``."""
        ...

    def save_thread(self, thread: Thread, *, if_absent: bool = False) -> Thread:
        """Create or replace a thread. Returns the stored thread.

        With ``if_absent=True`` only create it, in one conditional write: of two
        racing creates of one id exactly one succeeds.

        Raises:
            ConflictError: ``if_absent`` and a thread with this id exists (nothing is
                written).
        """
        ...

    def update_thread(
        self, thread_id: str, *, title: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Thread:
        """Set the title and merge ``metadata`` key by key, atomically; bump ``updated_at``.

        Raises:
            NotFoundError: no such thread.
        """
        ...

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread, its messages and their blobs (attachments, offloaded items)."""
        ...

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
        ...

    def save_messages(
        self, messages: Sequence[Message], *, allow_move: bool = True
    ) -> list[Message]:
        """Upsert messages by id, all or nothing, and bump each target thread's ``updated_at``.

        A message saved under an id that lives in another thread moves there, unless
        ``allow_move=False``: then the whole save is refused, atomically (the check is
        part of the write, so it holds under races). Code acting for a client (the
        agent runtime saving a request's messages) passes ``allow_move=False``; the
        move stays for trusted server code. A message without ``resource_id`` takes
        its thread's.

        Returns:
            The messages as stored.

        Raises:
            NotFoundError: a target thread does not exist (nothing is written).
            MessageIdConflictError: ``allow_move=False`` and an id lives in another
                thread, or the batch names one id in two threads (nothing is written).
        """
        ...

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

        The thread's messages are filtered (``resource_id``, ``start``/``end`` on
        ``created_at``), sorted by ``(created_at, id)`` in ``direction`` and paged; each
        :class:`Include` adds a message of any thread with ``with_previous`` /
        ``with_next`` neighbours from its own thread. The union is deduplicated and
        sorted by ``(created_at, id)`` in ``direction``. ``total`` counts the thread's
        filtered messages only; unknown include ids are ignored. ``per_page=None``
        returns every message, ``per_page=0`` none (only the includes).

        ``resource_id`` also bounds the include windows: an include whose message
        belongs to another resource is ignored (as an unknown id is), and a window
        keeps only that resource's messages. So with a resource given, an include
        never reads across resources (the HTTP route passes the listed thread's).

        Raises:
            ValidationError: bad ids, paging (``page * per_page`` over
                ``validation.MAX_OFFSET``, ``per_page`` over ``validation.MAX_PER_PAGE``)
                or include windows (over ``MAX_PER_PAGE``).
        """
        ...

    def get_messages(self, message_ids: Sequence[str]) -> list[Message]:
        """The messages with these ids, in the order asked; unknown ids are skipped."""
        ...

    def update_messages(self, updates: Sequence[MessageUpdate]) -> list[Message]:
        """Apply partial updates (see :class:`MessageUpdate`), all or nothing.

        Bumps ``updated_at`` of every thread touched (both ends of a move).

        Raises:
            NotFoundError: a message, or the thread a message moves to, does not exist.
        """
        ...

    def delete_messages(self, message_ids: Sequence[str]) -> None:
        """Delete messages; unknown ids are ignored; bumps the threads they were in."""
        ...

    def get_resource(self, resource_id: str) -> Resource | None:
        """The resource, or ``None``."""
        ...

    def update_resource(
        self,
        resource_id: str,
        *,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Resource:
        """Create the resource if missing, set working memory, merge metadata key by key."""
        ...

    def delete_resource(self, resource_id: str) -> bool:
        """Delete the resource record (working memory, metadata, offloaded documents).

        The resource's threads are not touched (``store.erase_resource`` deletes them
        first). Work a crashed thread delete left undone (pending blob deletions) is
        finished first, so after it no deleted thread's blobs are left behind.

        Returns:
            Whether a record was there (a missing resource is a no-op: ``False``).
        """
        ...
