"""The domain protocols every backend implements (contract: DESIGN §2).

``agents/`` and ``handlers/`` depend on these, never on a backend class. The
docstrings are the contract; ``tests/storage/conformance`` checks every backend
against them, with ``storage.memory`` as the reference.

Common rules:
    * ``get_*`` of something missing returns ``None``; ``update_*`` of something
      missing raises :class:`~storage.errors.NotFoundError` (except
      ``update_resource``, which creates); ``delete_*`` of something missing is a no-op.
    * Bad ids, metadata keys, JSON values or page arguments raise
      :class:`~storage.errors.ValidationError` before anything is written.
    * Every store is safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO, Literal, Protocol, runtime_checkable

from storage.records import (
    Include,
    Message,
    MessageUpdate,
    MessageVector,
    Page,
    Resource,
    Score,
    Span,
    SpanUpdate,
    Thread,
    VectorMatch,
    WorkflowRun,
)

OrderBy = Literal["created_at", "updated_at"]
Direction = Literal["asc", "desc"]
DOMAINS: tuple[str, ...] = (
    "memory", "workflows", "observability", "scores", "blobs", "vectors",
)


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


@runtime_checkable
class WorkflowStore(Protocol):
    """Workflow (and agent) runs with their snapshots."""

    def persist_snapshot(
        self, workflow_name: str, run_id: str, snapshot: Mapping[str, Any], *,
        resource_id: str | None = None,
    ) -> None:
        """Create or replace a run's snapshot; ``status`` is ``snapshot["status"]``.

        ``created_at`` is kept from the first save; ``updated_at`` is now.
        """
        ...

    def load_snapshot(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        """The snapshot, or ``None``."""
        ...

    def get_run(self, run_id: str, *, workflow_name: str | None = None) -> WorkflowRun | None:
        """A run by id (any workflow when ``workflow_name`` is ``None``), or ``None``."""
        ...

    def list_runs(
        self,
        *,
        workflow_name: str | None = None,
        resource_id: str | None = None,
        status: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page: int = 0,
        per_page: int | None = None,
    ) -> Page[WorkflowRun]:
        """Runs, newest ``created_at`` first (ties: ``run_id`` descending).

        ``start``/``end`` bound ``created_at`` inclusively.
        """
        ...

    def delete_run(self, workflow_name: str, run_id: str) -> None:
        """Delete a run."""
        ...


@runtime_checkable
class ObservabilityStore(Protocol):
    """Traces made of spans."""

    def create_spans(self, spans: Sequence[Span]) -> None:
        """Store spans (a span with an existing ``(trace_id, span_id)`` is replaced)."""
        ...

    def update_spans(self, updates: Sequence[SpanUpdate]) -> None:
        """Set fields of existing spans, all or nothing.

        Raises:
            NotFoundError: a span does not exist.
            ValidationError: a field is not a :class:`Span` field, or is a key field.
        """
        ...

    def get_trace(self, trace_id: str) -> list[Span]:
        """Every span of the trace, by ``started_at`` then ``span_id``; ``[]`` if unknown."""
        ...

    def list_traces(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        resource_id: str | None = None,
        thread_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page: int = 0,
        per_page: int | None = 50,
    ) -> Page[Span]:
        """Root spans, newest ``started_at`` first (ties: ``trace_id`` descending)."""
        ...

    def delete_traces(self, trace_ids: Sequence[str]) -> None:
        """Delete every span of these traces."""
        ...


@runtime_checkable
class ScoreStore(Protocol):
    """Scores written by scorers."""

    def save_score(self, score: Score) -> Score:
        """Create or replace a score by id."""
        ...

    def get_score(self, score_id: str) -> Score | None:
        """The score, or ``None``."""
        ...

    def list_scores(
        self,
        *,
        scorer_id: str | None = None,
        run_id: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        resource_id: str | None = None,
        page: int = 0,
        per_page: int | None = 50,
    ) -> Page[Score]:
        """Scores matching every given filter, newest ``created_at`` first (ties: id desc).

        ``resource_id`` keeps one tenant's scores: a page and its total count only those
        (an API caller under JWT sees its own scores, paged truthfully).
        """
        ...

    def delete_scores(self, score_ids: Sequence[str]) -> None:
        """Delete scores (and anything offloaded for them); unknown ids are ignored."""
        ...


@runtime_checkable
class BlobStore(Protocol):
    """Opaque bytes addressed by URI (``file://``, ``s3://``, ``memory://``)."""

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> str:
        """Store bytes under ``key`` (relative to the store's root). Returns the blob URI."""
        ...

    def get(self, uri: str) -> bytes:
        """The blob's bytes.

        Raises:
            NotFoundError: no such blob.
            ValidationError: the URI is not one of this store's.
        """
        ...

    def open(self, uri: str) -> BinaryIO:
        """A streaming, file-like reader over the blob (close it when done)."""
        ...

    def delete(self, uris: Sequence[str]) -> None:
        """Delete blobs; unknown URIs are ignored."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob whose key starts with ``prefix``."""
        ...

    def url_for(self, uri: str, *, expires_in: int = 900) -> str:
        """A short-lived https (or local) URL that downloads the blob."""
        ...

    def uri_for(self, key: str) -> str:
        """The URI :meth:`put` returns for ``key`` (nothing is read or written)."""
        ...

    def key_of(self, uri: str) -> str:
        """The key one of this store's URIs names: the one parser of blob URIs.

        Every read goes through it, and so must every ownership check: compare the
        key it returns (``storage.keys.is_attachment_of``), never the URI's text.
        Shared rules in :mod:`storage.blob_uris`: the scheme in any case, no query,
        fragment, user or port, no ``.``/``..`` segment.

        Raises:
            ValidationError: not one of this store's URIs (another scheme, bucket,
                prefix or folder), or ambiguous.
        """
        ...


@runtime_checkable
class VectorStore(Protocol):
    """Message embeddings and the nearest-neighbour search semantic recall runs.

    An index is bound to one ``(embedder, dimensions)`` pair by its first upsert and
    stays bound (deleting every vector does not unbind it): vectors of two embedders
    are never compared. Each message has at most one vector.

    Cascades (contract): deleting a message or a thread through the memory domain, or
    changing a message's content, thread or resource, removes its vector (SQL backends
    in the same transaction, DynamoDB because the vector is an attribute of the message
    item). A message written again whole by ``save_messages`` may lose its vector
    (DynamoDB rewrites the item): re-embed what you re-save.
    """

    def upsert(self, vectors: Sequence[MessageVector]) -> None:
        """Store each message's vector, replacing the one it had; all or nothing.

        The first upsert binds the index to its ``(embedder, dimensions)``. A vector
        whose message is not stored with that thread, resource and ``created_at``
        (deleted or moved while it was being embedded) is skipped, never stored on its
        own: every backend checks this against the messages stored beside it (a
        vector store with no memory domain beside it stores what it is given).

        Raises:
            ValidationError: a blank id or embedder; a vector that is empty, longer
                than 4096, all zeros or holds a non-finite number; two embedders or
                dimensions in one call; an ``(embedder, dimensions)`` pair other than
                the index's. Nothing is stored.
        """
        ...

    def search(
        self,
        vector: Sequence[float],
        *,
        embedder: str,
        resource_id: str,
        thread_id: str | None = None,
        top_k: int = 4,
        threshold: float | None = None,
    ) -> list[VectorMatch]:
        """The ``top_k`` messages of ``resource_id`` (and of ``thread_id`` when given) nearest
        to ``vector`` by cosine similarity.

        Best first; equal scores by ``created_at``, then ``message_id``, ascending. Never
        a message of another resource. Matches scoring below ``threshold`` are dropped.
        An unbound (empty) index finds nothing.

        Raises:
            ValidationError: ``top_k`` outside 1..100, ``threshold`` outside [-1, 1], a
                blank ``resource_id`` or ``thread_id``, a vector the upsert rules refuse,
                or an ``embedder``/dimensions differing from the index's.
        """
        ...

    def delete(self, message_ids: Sequence[str]) -> None:
        """Delete these messages' vectors; unknown ids are ignored."""
        ...

    def delete_thread(self, thread_id: str) -> None:
        """Delete the vectors of every message of a thread."""
        ...

    def delete_resource(self, resource_id: str) -> int:
        """Delete the vectors of every message of a resource.

        Returns:
            How many vectors were deleted.
        """
        ...

    def index(self) -> tuple[str, int] | None:
        """The ``(embedder, dimensions)`` of the index; ``None`` before the first upsert."""
        ...


@runtime_checkable
class BlobLister(Protocol):
    """A blob store that lists its keys (every backend's does; a custom one may not)."""

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key starting with ``prefix`` (relative to the store's root), sorted,
        read page by page as the iterator is consumed."""
        ...


class Store(Protocol):
    """A bundle of domains. A domain a backend lacks is ``None``."""

    memory: MemoryStore | None
    workflows: WorkflowStore | None
    observability: ObservabilityStore | None
    scores: ScoreStore | None
    blobs: BlobStore | None
    vectors: VectorStore | None

    def setup(self) -> None:
        """Create tables, indexes, folders if missing. Idempotent."""
        ...

    def close(self) -> None:
        """Release connections and clients."""
        ...


class BlobAware(Protocol):
    """A domain that offloads to (or cleans up in) a blob store it is handed."""

    def attach_blobs(self, blobs: BlobStore | None) -> None:
        """Use ``blobs`` for offloaded attributes and attachment clean-up."""
        ...


@runtime_checkable
class WindowReader(Protocol):
    """A memory domain that reads ``include`` windows without a page (semantic recall).

    ``list_messages(..., include=..., per_page=0)`` also counts the thread's messages
    for ``total``; where that costs a read of its own (DynamoDB), recall asks for the
    windows alone. memory:// and DynamoDB have it; callers fall back to
    ``list_messages`` elsewhere.
    """

    def get_windows(
        self, include: Sequence[Include], *, resource_id: str | None = None
    ) -> list[Message]:
        """The union of the windows, once each, sorted by ``(created_at, id)``.

        Each :class:`Include` is a message of any thread with ``with_previous`` /
        ``with_next`` neighbours from its own thread; unknown ids are ignored. With
        ``resource_id``, an included message of another resource gives nothing and a
        window keeps only that resource's messages.
        """
        ...


class VectorAware(Protocol):
    """A memory domain that keeps a vector store in step with its messages."""

    def attach_vectors(self, vectors: VectorStore | None) -> None:
        """Remove vectors from ``vectors`` when their messages are deleted or change.

        A store whose vectors live beside its messages (the same SQLite file, the same
        PostgreSQL database, the same DynamoDB table) cascades there itself; any other
        vector store is told after the memory write commits.
        """
        ...


@runtime_checkable
class Prunable(Protocol):
    """A domain that deletes its own expired records, a bounded batch at a time.

    ``store.prune()`` (:mod:`storage.lifecycle.prune`) calls it until a batch deletes
    nothing; the ``memory`` domain ages threads out, ``workflows`` runs,
    ``observability`` spans and ``scores`` scores.
    """

    def prune_batch(self, before: datetime, *, limit: int) -> Mapping[str, int]:
        """Delete up to ``limit`` of the oldest records older than ``before``, atomically.

        A thread goes whole (messages, vectors, attachments, offloaded objects) through
        the cascade ``delete_thread`` uses, or not at all; a record younger than
        ``before`` when the batch commits is never deleted. Work a crash left undone
        (blobs of threads already deleted) is finished first.

        Returns:
            Counts by domain (``threads`` and ``messages``, ``runs``, ``spans`` or
            ``scores``); the domain's own count is 0 once nothing is left to delete.
        """
        ...
