"""UTC, millisecond-precision timestamps shared by every backend.

Mastra stores ISO-8601 strings with milliseconds (``2025-01-02T03:04:05.678Z``); a
record written by one backend and read by another must compare equal, so every
timestamp is normalised to that precision when a record is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_PINNED: ContextVar[datetime | None] = ContextVar("stowage_pinned_now", default=None)


def utcnow() -> datetime:
    """The current time, UTC, truncated to milliseconds (or the time :func:`pinned_now` set)."""
    pinned = _PINNED.get()
    return pinned if pinned is not None else to_ms(datetime.now(UTC))


@contextmanager
def pinned_now(moment: datetime) -> Iterator[None]:
    """Within the block, :func:`utcnow` in this thread (this context) returns ``moment``.

    An import restores records with the times they were exported with through the
    public protocols, which stamp ``created_at``/``updated_at`` from :func:`utcnow`
    (``persist_snapshot``, ``update_resource``, the thread bump of ``save_messages``).
    A :class:`~contextvars.ContextVar`, so other threads sharing the store keep the
    real clock.
    """
    token = _PINNED.set(to_ms(moment))
    try:
        yield
    finally:
        _PINNED.reset(token)


def to_ms(value: datetime) -> datetime:
    """Convert an aware datetime to UTC and drop sub-millisecond digits.

    Raises:
        ValueError: the datetime is naive (no timezone).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp {value!r} has no timezone; use an aware UTC datetime")
    value = value.astimezone(UTC)
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)


def to_iso(value: datetime) -> str:
    """Render as Mastra does: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    value = to_ms(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def from_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or an offset; naive means UTC).

    Raises:
        ValueError: not an ISO timestamp, or one no UTC datetime can hold
            (``9999-12-31T23:59:59-14:00`` is past year 9999 in UTC).
    """
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text.replace(" ", "T", 1))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return to_ms(value)
    except OverflowError:
        raise ValueError(f"timestamp {text!r} is out of range in UTC") from None


def to_epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, for sort keys and numeric columns."""
    value = to_ms(value)
    return int(value.timestamp()) * 1000 + value.microsecond // 1000


def from_epoch_ms(value: int) -> datetime:
    """Inverse of :func:`to_epoch_ms`."""
    seconds, millis = divmod(int(value), 1000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)
