"""What a resource owns, domain by domain, read through the stores' public protocols.

Erase (:mod:`storage.lifecycle.erase`) deletes what an inventory lists; export reads it.
Every listing is an iterator that pages through the store's bounded pages as it is
consumed, so a resource with a million messages is never held in memory at once.

    >>> inv = ResourceInventory(store, "user-1")
    >>> [t.id for t in inv.threads()]              # every thread, oldest first
    >>> sum(1 for _ in inv.messages("thread-1"))   # a thread's messages, oldest first
    >>> inv.resource()                             # the working-memory record, or None
    >>> list(inv.blob_keys())                      # attachments, uploads, offloaded docs

What belongs to a resource, per domain:

* ``memory``: the threads whose ``resource_id`` is it, every message of those threads,
  and the resource record (working memory and metadata);
* ``vectors``: the vectors of those messages (they go with their messages);
* ``workflows``: the runs saved with the resource (``list_runs(resource_id=)``);
* ``observability``: the traces whose root span names the resource (a trace is
  listed, and erased, whole);
* ``scores``: the scores saved with the resource (``list_scores(resource_id=)``);
* ``blobs``: every key under :func:`blob_prefixes` (attachments and uploads under
  ``attachments/<resource>/``, a resource's offloaded documents under
  ``offload/resources/<resource>/``), and each thread's offloaded messages under
  ``offload/memory/<thread>/`` (:func:`thread_blob_prefixes`).

A domain the store lacks (``None``) owns nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from storage import validation as v
from storage.errors import ValidationError
from storage.keys import offload_prefix, resource_attachment_prefix, resource_export_prefix
from storage.protocols import BlobLister
from storage.records import Message, Page, Resource, Score, Span, Thread, WorkflowRun

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 500
"""Records read per page."""
MAX_PAGE_SIZE = 10_000


def blob_prefixes(resource_id: str) -> tuple[str, ...]:
    """The blob prefixes only this resource's objects live under.

    ``attachments/<resource>/`` holds every attachment and upload of every thread of the
    resource (``storage.keys.thread_attachment_prefix``; uploads: ``handlers.uploads``);
    ``offload/resources/<resource>/`` holds working memory and metadata too big for an
    item (DynamoDB); ``exports/<resource>/`` the archives the export route wrote.
    """
    return (resource_attachment_prefix(resource_id), offload_prefix("resources", resource_id),
            resource_export_prefix(resource_id))


def thread_blob_prefixes(thread_id: str) -> tuple[str, ...]:
    """The blob prefix of a thread's offloaded messages (DynamoDB): ``offload/memory/<id>/``."""
    return (offload_prefix("memory", thread_id),)


def pages(fetch: Callable[[int, int], Page[T]], page_size: int) -> Iterator[T]:
    """Every item of a paged listing, page by page (``fetch(page, per_page)``)."""
    page = 0
    while True:
        batch = fetch(page, page_size)
        yield from batch.items
        if not batch.has_more or not batch.items:
            return
        page += 1


def check_page_size(page_size: object) -> int:
    """``page_size`` if it is an integer 1..:data:`MAX_PAGE_SIZE`.

    Raises:
        ValidationError: otherwise.
    """
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValidationError("page_size must be an integer")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    return page_size


@dataclass(frozen=True)
class ResourceInventory:
    """Lists what ``resource_id`` owns in ``store`` (a store or a composite).

    Reads only; each listing pages through the store as it is consumed. Listings made
    while records are being added or deleted may miss or repeat a record at a page
    boundary (offset paging): erase re-reads the first page until it is empty instead.

    Raises:
        ValidationError: a bad resource id or page size (on construction).
    """

    store: Any
    resource_id: str
    page_size: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        v.check_id(self.resource_id, "resource id")
        check_page_size(self.page_size)

    def _domain(self, name: str) -> Any:
        return getattr(self.store, name, None)

    # --- memory ----------------------------------------------------------------------

    def threads(self) -> Iterator[Thread]:
        """The resource's threads, oldest ``created_at`` first."""
        memory = self._domain("memory")
        if memory is None:
            return iter(())
        return pages(
            lambda page, per_page: memory.list_threads(
                resource_id=self.resource_id, page=page, per_page=per_page,
                order_by="created_at", direction="asc",
            ),
            self.page_size,
        )

    def messages(self, thread_id: str) -> Iterator[Message]:
        """A thread's messages, oldest first (the thread's, whatever their resource)."""
        memory = self._domain("memory")
        if memory is None:
            return iter(())
        return pages(
            lambda page, per_page: memory.list_messages(
                thread_id, page=page, per_page=per_page, direction="asc",
            ),
            self.page_size,
        )

    def message_count(self, thread_id: str) -> int:
        """How many messages the thread holds (one count, no message read)."""
        memory = self._domain("memory")
        if memory is None:
            return 0
        return int(memory.list_messages(thread_id, per_page=0).total)

    def resource(self) -> Resource | None:
        """The resource record (working memory, metadata), or ``None``."""
        memory = self._domain("memory")
        return None if memory is None else memory.get_resource(self.resource_id)

    # --- workflows, observability, scores ---------------------------------------------

    def runs(self) -> Iterator[WorkflowRun]:
        """The runs saved with the resource, newest first."""
        workflows = self._domain("workflows")
        if workflows is None:
            return iter(())
        return pages(
            lambda page, per_page: workflows.list_runs(
                resource_id=self.resource_id, page=page, per_page=per_page,
            ),
            self.page_size,
        )

    def traces(self) -> Iterator[Span]:
        """The root spans of the resource's traces, newest first."""
        observability = self._domain("observability")
        if observability is None:
            return iter(())
        return pages(
            lambda page, per_page: observability.list_traces(
                resource_id=self.resource_id, page=page, per_page=per_page,
            ),
            self.page_size,
        )

    def spans(self, trace_id: str) -> list[Span]:
        """Every span of one trace (``get_trace``)."""
        observability = self._domain("observability")
        return [] if observability is None else list(observability.get_trace(trace_id))

    def scores(self) -> Iterator[Score]:
        """The scores saved with the resource, newest first."""
        scores = self._domain("scores")
        if scores is None:
            return iter(())
        return pages(
            lambda page, per_page: scores.list_scores(
                resource_id=self.resource_id, page=page, per_page=per_page,
            ),
            self.page_size,
        )

    # --- blobs ---------------------------------------------------------------------------

    def blob_keys(self, thread_ids: tuple[str, ...] = ()) -> Iterator[str]:
        """Every blob key under the resource's prefixes (and ``thread_ids``' offloads).

        Nothing when the store has no blob domain, or one that cannot list
        (:class:`~storage.protocols.BlobLister`).
        """
        blobs = self._domain("blobs")
        if not isinstance(blobs, BlobLister):
            return
        prefixes = list(blob_prefixes(self.resource_id))
        for thread_id in thread_ids:
            prefixes += thread_blob_prefixes(thread_id)
        for prefix in prefixes:
            yield from blobs.list_keys(prefix)


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "ResourceInventory",
    "blob_prefixes",
    "check_page_size",
    "pages",
    "thread_blob_prefixes",
]
