"""Helpers shared by the in-memory domains: copies, paging, time bounds."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from storage.errors import ValidationError
from storage.timeutil import to_ms

T = TypeVar("T")


def clone(value: T) -> T:
    """A deep copy, so neither the caller nor the store can mutate the other's data."""
    return copy.deepcopy(value)


def page_slice(items: Sequence[T], page: int, per_page: int | None) -> list[T]:
    """The items of one page (``per_page=None``: all of them)."""
    if per_page is None:
        return list(items)
    return list(items[page * per_page : (page + 1) * per_page])


def check_time(value: object, what: str) -> datetime | None:
    """``None``, or an aware datetime normalised to UTC milliseconds."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a datetime, got {type(value).__name__}")
    try:
        return to_ms(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def within(
    value: datetime,
    start: datetime | None,
    end: datetime | None,
    *,
    start_exclusive: bool = False,
    end_exclusive: bool = False,
) -> bool:
    """Whether ``value`` lies between the bounds (inclusive unless told otherwise)."""
    if start is not None and (value <= start if start_exclusive else value < start):
        return False
    return not (end is not None and (value >= end if end_exclusive else value > end))
