"""The records every domain stores, as frozen dataclasses (contract: DESIGN §2).

Timestamps are timezone-aware UTC ``datetime`` objects normalised to millisecond
precision when a record is built, so a record round-trips through any backend and
compares equal. ``content``, ``metadata`` and the like are plain JSON values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from storage.timeutil import to_ms, utcnow

JSON = Any
"""A JSON value: dict, list, str, int, float, bool or None."""

Role = Literal["user", "assistant", "system", "tool"]
ROLES: frozenset[str] = frozenset({"user", "assistant", "system", "tool"})

T = TypeVar("T")


def _normalise_times(record: object, *names: str) -> None:
    """Convert the named datetime fields of a frozen record to UTC milliseconds."""
    for name in names:
        value = getattr(record, name)
        if value is not None:
            object.__setattr__(record, name, to_ms(value))


@dataclass(frozen=True)
class Thread:
    """A conversation, owned by a resource (a user, an org)."""

    id: str
    resource_id: str
    title: str | None = None
    metadata: dict[str, JSON] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        _normalise_times(self, "created_at", "updated_at")


@dataclass(frozen=True)
class Message:
    """One message of a thread, in Mastra's format 2.

    ``content`` is ``{"format": 2, "parts": [...], "content"?: str,
    "experimental_attachments"?: [...], "metadata"?: {...}}``.
    """

    id: str
    thread_id: str
    role: str
    content: dict[str, JSON]
    created_at: datetime = field(default_factory=utcnow)
    resource_id: str | None = None
    type: str = "v2"

    def __post_init__(self) -> None:
        _normalise_times(self, "created_at")

    @property
    def text(self) -> str:
        """The message's text: its ``text`` parts joined, else ``content["content"]``."""
        parts = self.content.get("parts") or []
        texts = [
            p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") == "text"
        ]
        if texts:
            return "".join(texts)
        plain = self.content.get("content")
        return plain if isinstance(plain, str) else ""


@dataclass(frozen=True)
class Resource:
    """The owner of threads; holds resource-scoped working memory."""

    id: str
    working_memory: str | None = None
    metadata: dict[str, JSON] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        _normalise_times(self, "created_at", "updated_at")


@dataclass(frozen=True)
class WorkflowRun:
    """A workflow (or agent) run and its latest snapshot."""

    workflow_name: str
    run_id: str
    snapshot: dict[str, JSON]
    status: str
    resource_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        _normalise_times(self, "created_at", "updated_at")


@dataclass(frozen=True)
class Span:
    """One span of a trace (an agent run, a model call, a tool call)."""

    trace_id: str
    span_id: str
    name: str
    span_type: str
    started_at: datetime
    parent_span_id: str | None = None
    ended_at: datetime | None = None
    input: JSON = None
    output: JSON = None
    error: JSON = None
    attributes: dict[str, JSON] = field(default_factory=dict)
    metadata: dict[str, JSON] = field(default_factory=dict)
    entity_type: str | None = None
    entity_id: str | None = None
    entity_name: str | None = None
    resource_id: str | None = None
    thread_id: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        _normalise_times(self, "started_at", "ended_at")

    @property
    def is_root(self) -> bool:
        """True for the span that starts a trace."""
        return self.parent_span_id is None


SPAN_FIELDS: frozenset[str] = frozenset(f.name for f in fields(Span))
SPAN_KEY_FIELDS: frozenset[str] = frozenset({"trace_id", "span_id"})


@dataclass(frozen=True)
class Score:
    """The result of a scorer over one run (or one span)."""

    id: str
    scorer_id: str
    score: float
    run_id: str
    created_at: datetime = field(default_factory=utcnow)
    reason: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    input: JSON = None
    output: JSON = None
    metadata: dict[str, JSON] = field(default_factory=dict)
    source: str | None = None
    resource_id: str | None = None
    thread_id: str | None = None

    def __post_init__(self) -> None:
        _normalise_times(self, "created_at")


@dataclass(frozen=True)
class MessageVector:
    """The embedding of one message's text, as the ``vectors`` domain stores it.

    ``dimensions`` is ``len(vector)``; a store records it with ``embedder`` and refuses a
    vector whose pair differs from the one its index is bound to. A list given as
    ``vector`` is kept as a tuple (the record is immutable); the stores check the values.
    """

    message_id: str
    thread_id: str
    resource_id: str
    created_at: datetime
    vector: tuple[float, ...]
    embedder: str

    def __post_init__(self) -> None:
        _normalise_times(self, "created_at")
        if isinstance(self.vector, list):
            object.__setattr__(self, "vector", tuple(self.vector))

    @property
    def dimensions(self) -> int:
        """The number of floats in the vector."""
        return len(self.vector)


@dataclass(frozen=True)
class VectorMatch:
    """One message a vector search found: ``score`` is the cosine similarity in [-1, 1]."""

    message_id: str
    thread_id: str
    resource_id: str
    created_at: datetime
    score: float

    def __post_init__(self) -> None:
        _normalise_times(self, "created_at")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. ``per_page=None`` means every item was returned."""

    items: list[T]
    total: int
    page: int
    per_page: int | None
    has_more: bool


@dataclass(frozen=True)
class Include:
    """Ask ``list_messages`` for a message (any thread) and its neighbours in its thread."""

    id: str
    with_previous: int = 0
    with_next: int = 0


@dataclass(frozen=True)
class MessageUpdate:
    """A partial update of a message; ``None`` leaves a field as it is.

    ``content`` is shallow-merged into the stored content, except its ``metadata``,
    which is deep-merged, as is ``metadata`` (a shortcut for ``content["metadata"]``).
    ``thread_id`` moves the message to another thread.
    """

    id: str
    role: str | None = None
    content: Mapping[str, JSON] | None = None
    thread_id: str | None = None
    metadata: Mapping[str, JSON] | None = None


@dataclass(frozen=True)
class SpanUpdate:
    """A partial update of a span: ``fields`` maps :class:`Span` field names to values."""

    trace_id: str
    span_id: str
    fields: Mapping[str, JSON]


def page_of(items: Sequence[T], *, total: int, page: int, per_page: int | None) -> Page[T]:
    """Build a :class:`Page`, computing ``has_more`` the one way every backend must."""
    has_more = per_page is not None and (page + 1) * per_page < total
    return Page(items=list(items), total=total, page=page, per_page=per_page, has_more=has_more)


def deep_merge(base: Mapping[str, JSON], patch: Mapping[str, JSON]) -> dict[str, JSON]:
    """Merge ``patch`` into a copy of ``base``; nested dicts merge, anything else replaces."""
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def apply_message_update(message: Message, update: MessageUpdate) -> Message:
    """The message as it is after ``update`` (the rule every backend follows)."""
    content = dict(message.content)
    if update.content is not None:
        patch = dict(update.content)
        patch_meta = patch.pop("metadata", None)
        content.update(patch)
        if isinstance(patch_meta, dict):
            content["metadata"] = deep_merge(message.content.get("metadata") or {}, patch_meta)
        elif "metadata" in update.content:
            content["metadata"] = patch_meta
    if update.metadata is not None:
        content["metadata"] = deep_merge(content.get("metadata") or {}, update.metadata)
    return replace(
        message,
        role=update.role if update.role is not None else message.role,
        content=content,
        thread_id=update.thread_id if update.thread_id is not None else message.thread_id,
    )


__all__ = [
    "JSON",
    "ROLES",
    "SPAN_FIELDS",
    "Include",
    "Message",
    "MessageUpdate",
    "MessageVector",
    "Page",
    "Resource",
    "Role",
    "Score",
    "Span",
    "SpanUpdate",
    "Thread",
    "VectorMatch",
    "WorkflowRun",
    "apply_message_update",
    "deep_merge",
    "page_of",
]
