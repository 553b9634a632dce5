"""Input checks every backend runs before touching its driver.

The same input is accepted or refused the same way by every backend, so a caller
never learns which one it is talking to from an error. The rules are the strictest
of the backends': DynamoDB nests at most 32 levels, PostgreSQL ``jsonb`` cannot hold
``\\u0000``, and no backend can encode a lone UTF-16 surrogate as UTF-8.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from storage.errors import MessageIdConflictError, ValidationError
from storage.records import ROLES, Include, Message, MessageUpdate, Thread

MAX_ID_LENGTH = 512
MAX_JSON_DEPTH = 30
MAX_PER_PAGE = 100_000
"""The largest page (and include window) a list call takes; ``per_page=None`` reads all."""
MAX_OFFSET = 2**31 - 1
"""The largest ``page * per_page`` (and ``page``): past any real list, and within every
backend's integers (SQLite and PostgreSQL take 64 bits, the Data API and DynamoDB's
``Limit`` 32), so a huge page number is refused the same way everywhere."""
_METADATA_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_FORBIDDEN_KEYS = frozenset({"__proto__", "prototype", "constructor"})
SORT_FIELDS = frozenset({"created_at", "updated_at"})
DIRECTIONS = frozenset({"asc", "desc"})
T = TypeVar("T")


def check_id(value: object, what: str = "id") -> str:
    """Refuse an id that is not a non-blank string of at most 512 characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{what} is longer than {MAX_ID_LENGTH} characters")
    _check_text(value, what)
    return value


def check_ids(values: Iterable[object], what: str = "id") -> list[str]:
    """:func:`check_id` over a collection; a bare string is refused (a common slip)."""
    if isinstance(values, str | bytes):
        raise ValidationError(f"{what}s must be a list of strings, not a single string")
    return [check_id(v, what) for v in values]


def check_metadata_key(key: object) -> str:
    """Mastra's rule for metadata keys used in filters and merges."""
    if not isinstance(key, str) or not _METADATA_KEY.match(key):
        raise ValidationError(
            f"metadata key {key!r} must match ^[a-zA-Z_][a-zA-Z0-9_]*$"
        )
    if len(key) > 128:
        raise ValidationError(f"metadata key {key[:20]!r}... is longer than 128 characters")
    if key in _FORBIDDEN_KEYS:
        raise ValidationError(f"metadata key {key!r} is not allowed")
    return key


def check_metadata(value: object, what: str = "metadata") -> dict[str, Any]:
    """A metadata object: a dict with valid top-level keys and JSON values."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be an object, got {type(value).__name__}")
    for key in value:
        check_metadata_key(key)
    check_json(value, what)
    for item in value.values():
        _check_native(item, what)
    return dict(value)


def _check_native(value: object, what: str) -> None:
    """Metadata is stored as native maps (DynamoDB ``M``): no empty nested key, and only
    numbers DynamoDB can hold (38 digits, magnitude 1e-130 to 1e126), so every backend
    accepts the same metadata."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if len(str(abs(value))) > 38:
            raise ValidationError(f"{what} holds an integer of more than 38 digits")
    elif isinstance(value, float):
        if value != 0 and not (1e-130 <= abs(value) < 1e126):
            raise ValidationError(f"{what} holds a number outside 1e-130..1e126")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key == "":
                raise ValidationError(f"{what} has an empty key in a nested object")
            _check_native(item, what)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_native(item, what)


def check_json(value: object, what: str = "value", _depth: int = 0) -> None:
    """Refuse what no backend can store exactly: non-JSON types, NaN, NUL, lone surrogates."""
    if _depth > MAX_JSON_DEPTH:
        raise ValidationError(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{what} holds a non-finite number")
        return
    if isinstance(value, str):
        _check_text(value, what)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{what} has a non-string key {key!r}")
            _check_text(key, what)
            check_json(item, what, _depth + 1)
        return
    if isinstance(value, list | tuple):
        for item in value:
            check_json(item, what, _depth + 1)
        return
    raise ValidationError(f"{what} holds a {type(value).__name__}, which is not JSON")


def _check_text(text: str, what: str) -> None:
    if "\x00" in text:
        raise ValidationError(f"{what} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{what} contains a lone surrogate and is not valid UTF-8") from exc


def check_role(role: object) -> str:
    """One of ``user``, ``assistant``, ``system``, ``tool``."""
    if role not in ROLES:
        raise ValidationError(f"role must be one of {sorted(ROLES)}, got {role!r}")
    return str(role)


def check_content(content: object) -> dict[str, Any]:
    """A message's content: a JSON object (Mastra's format 2)."""
    if not isinstance(content, Mapping):
        raise ValidationError("message content must be an object (Mastra format 2)")
    check_json(content, "message content")
    return dict(content)


def check_paging(page: object, per_page: object, *, allow_all: bool = True) -> None:
    """``page`` >= 0; ``per_page`` 0..:data:`MAX_PER_PAGE`, or ``None`` for everything.

    ``page * per_page`` (the offset) is at most :data:`MAX_OFFSET`, so
    ``page=99999999999999999999`` is a :class:`ValidationError` on every backend
    rather than an integer overflow in one driver and an empty page in another.
    """
    if not isinstance(page, int) or isinstance(page, bool) or page < 0:
        raise ValidationError(f"page must be a non-negative integer, got {page!r}")
    if page > MAX_OFFSET:
        raise ValidationError(f"page must be at most {MAX_OFFSET}, got {_short(page)}")
    if per_page is None:
        if not allow_all:
            raise ValidationError("per_page must be given")
        return
    if not isinstance(per_page, int) or isinstance(per_page, bool) or per_page < 0:
        raise ValidationError(f"per_page must be a non-negative integer or None, got {per_page!r}")
    if per_page > MAX_PER_PAGE:
        raise ValidationError(
            f"per_page must be at most {MAX_PER_PAGE} (None reads everything), "
            f"got {_short(per_page)}"
        )
    if page * per_page > MAX_OFFSET:
        raise ValidationError(
            f"page * per_page must be at most {MAX_OFFSET}, got page {_short(page)} "
            f"of {per_page}"
        )


def _short(number: int) -> str:
    # An attacker's 5,000-digit number is not echoed back whole.
    text = str(number)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"


def check_sort(order_by: object, direction: object) -> None:
    """``order_by`` in created_at/updated_at and ``direction`` in asc/desc."""
    if order_by not in SORT_FIELDS:
        raise ValidationError(f"order_by must be one of {sorted(SORT_FIELDS)}, got {order_by!r}")
    check_direction(direction)


def check_direction(direction: object) -> None:
    """``asc`` or ``desc``."""
    if direction not in DIRECTIONS:
        raise ValidationError(f"direction must be 'asc' or 'desc', got {direction!r}")


def check_non_negative(value: object, what: str) -> int:
    """A non-negative integer (context window sizes and the like)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def check_includes(include: object) -> list[Include]:
    """The ``include`` of ``list_messages``: :class:`Include` items (a lone one is a list of
    one), each with a valid id and windows of 0..:data:`MAX_PER_PAGE` messages."""
    items = [include] if isinstance(include, Include) else include
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise ValidationError("include must be a list of Include(id, with_previous, with_next)")
    out = []
    for item in items:
        if not isinstance(item, Include):
            raise ValidationError(
                f"include must hold Include(id, with_previous, with_next), got "
                f"{type(item).__name__}"
            )
        check_id(item.id, "included message id")
        for name in ("with_previous", "with_next"):
            size = check_non_negative(getattr(item, name), name)
            if size > MAX_PER_PAGE:
                raise ValidationError(f"{name} must be at most {MAX_PER_PAGE}, got {_short(size)}")
        out.append(item)
    return out


# --- whole records -------------------------------------------------------------------

def check_thread(thread: Any) -> None:
    """A thread a backend may store (a :class:`~storage.records.Thread`)."""
    if not isinstance(thread, Thread):
        raise ValidationError(f"expected a Thread, got {type(thread).__name__}")
    check_id(thread.id, "thread id")
    check_id(thread.resource_id, "resource id")
    if thread.title is not None and not isinstance(thread.title, str):
        raise ValidationError("thread title must be a string or None")
    if thread.title is not None:
        _check_text(thread.title, "thread title")
    check_metadata(thread.metadata, "thread metadata")


def check_message(message: Any) -> None:
    """A message a backend may store (a :class:`~storage.records.Message`)."""
    if not isinstance(message, Message):
        raise ValidationError(f"expected a Message, got {type(message).__name__}")
    check_id(message.id, "message id")
    check_id(message.thread_id, "thread id")
    if message.resource_id is not None:
        check_id(message.resource_id, "resource id")
    check_role(message.role)
    check_content(message.content)
    if not isinstance(message.type, str) or not message.type:
        raise ValidationError("message type must be a non-empty string")
    check_id(message.type, "message type")  # no NUL, no lone surrogate, bounded


def check_run(workflow_name: object, run_id: object, snapshot: object) -> None:
    """A workflow snapshot a backend may store."""
    check_id(workflow_name, "workflow name")
    check_id(run_id, "run id")
    if not isinstance(snapshot, Mapping):
        raise ValidationError("workflow snapshot must be an object")
    check_json(snapshot, "workflow snapshot")


def check_span(span: Any) -> None:
    """A span a backend may store."""
    check_id(span.trace_id, "trace id")
    check_id(span.span_id, "span id")
    if span.parent_span_id is not None:
        check_id(span.parent_span_id, "parent span id")
    check_id(span.name, "span name")
    check_id(span.span_type, "span type")
    for name in ("input", "output", "error"):
        check_json(getattr(span, name), f"span {name}")
    check_json(span.attributes, "span attributes")
    check_json(span.metadata, "span metadata")
    for name in ("entity_type", "entity_id", "entity_name", "resource_id", "thread_id", "run_id"):
        check_optional_text(getattr(span, name), f"span {name}")


def check_score(score: Any) -> None:
    """A score a backend may store."""
    check_id(score.id, "score id")
    check_id(score.scorer_id, "scorer id")
    check_id(score.run_id, "run id")
    if isinstance(score.score, bool) or not isinstance(score.score, int | float):
        raise ValidationError("score must be a number")
    check_json(score.score, "score")
    for name in ("input", "output", "metadata"):
        check_json(getattr(score, name), f"score {name}")
    for name in ("reason", "source", "entity_type", "entity_id", "trace_id", "span_id",
                 "resource_id", "thread_id"):
        check_optional_text(getattr(score, name), f"score {name}")


def check_optional_text(value: object, what: str) -> None:
    """``None`` or a string every backend can store (no NUL, no lone surrogate)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string or None, got {type(value).__name__}")
    _check_text(value, what)


def check_message_update(update: Any) -> None:
    """A :class:`~storage.records.MessageUpdate` a backend may apply."""
    if not isinstance(update, MessageUpdate):
        raise ValidationError(f"expected a MessageUpdate, got {type(update).__name__}")
    check_id(update.id, "message id")
    if update.role is not None:
        check_role(update.role)
    if update.content is not None:
        check_content(update.content)
    if update.thread_id is not None:
        check_id(update.thread_id, "thread id")
    if update.metadata is not None:
        if not isinstance(update.metadata, Mapping):
            raise ValidationError("message metadata must be an object")
        check_json(update.metadata, "message metadata")


def check_filters(filters: Mapping[str, object]) -> dict[str, str]:
    """The given (non-``None``) id filters of a list call, each checked as an id."""
    return {
        name: check_id(value, name.replace("_", " "))
        for name, value in filters.items()
        if value is not None
    }


def check_no_move_within(messages: Sequence[Any]) -> None:
    """A batch saved with ``allow_move=False`` names each message id in one thread only.

    Raises:
        MessageIdConflictError: an id appears under two threads.
    """
    threads: dict[str, str] = {}
    for message in messages:
        if threads.setdefault(message.id, message.thread_id) != message.thread_id:
            raise MessageIdConflictError(message.id)


# --- the arguments of MemoryStore calls (every backend starts with these) -------------


def check_thread_patch(title: object, metadata: object) -> dict[str, Any]:
    """``update_thread``'s title (a string or ``None``); the metadata patch to merge."""
    check_optional_text(title, "thread title")
    return check_metadata(metadata, "thread metadata") if metadata is not None else {}


def check_resource_patch(working_memory: object, metadata: object) -> dict[str, Any]:
    """``update_resource``'s working memory (a string or ``None``); the metadata patch."""
    check_optional_text(working_memory, "working memory")
    return check_metadata(metadata, "resource metadata") if metadata is not None else {}


def check_thread_listing(
    resource_id: object, metadata: object, page: object, per_page: object,
    order_by: object, direction: object,
) -> dict[str, Any]:
    """``list_threads``' arguments; the metadata filter (empty for none)."""
    if resource_id is not None:
        check_id(resource_id, "resource id")
    wanted = check_metadata(metadata, "metadata filter") if metadata is not None else {}
    check_paging(page, per_page)
    check_sort(order_by, direction)
    return wanted


def check_message_listing(
    thread_id: object, resource_id: object, include: object, page: object,
    per_page: object, direction: object,
) -> list[Include]:
    """``list_messages``' arguments; the checked includes."""
    check_id(thread_id, "thread id")
    if resource_id is not None:
        check_id(resource_id, "resource id")
    includes = check_includes(include)
    check_paging(page, per_page)
    check_direction(direction)
    return includes


def check_list_of(values: object, kind: type[T], call: str) -> list[T]:
    """``values`` as a list, where a lone ``kind`` (a common slip) is refused, not wrapped;
    the items themselves are the caller's to check."""
    if isinstance(values, kind) or not isinstance(values, Iterable):
        raise ValidationError(f"{call} takes a list of {kind.__name__}")
    return list(values)


def check_message_batch(messages: object, *, allow_move: bool) -> list[Message]:
    """``save_messages``' batch as a list (a lone message is refused, not wrapped).

    Raises:
        ValidationError: not a list of valid messages.
        MessageIdConflictError: ``allow_move=False`` and an id is under two threads.
    """
    batch = check_list_of(messages, Message, "save_messages")
    for message in batch:
        check_message(message)
    if not allow_move:
        check_no_move_within(batch)
    return batch


def check_message_updates(updates: object) -> list[MessageUpdate]:
    """``update_messages``' batch as a list (a lone update is refused, not wrapped)."""
    batch = check_list_of(updates, MessageUpdate, "update_messages")
    for update in batch:
        check_message_update(update)
    return batch
