"""Listing in Python: time bounds, filters, a newest-first sort and one page.

The reference backend (``storage.memory``) lists this way over its records, and the
DynamoDB domains that read a whole index partition (scores, workflow runs, root spans)
over the raw items, turning only the page into records. One set of helpers keeps the
two in step: the same filters match, the same ties break the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from storage import validation as v
from storage.errors import ValidationError
from storage.records import Page, page_of
from storage.timeutil import to_ms

T = TypeVar("T")
R = TypeVar("R")


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


def check_run_listing(
    workflow_name: object, resource_id: object, status: object, start: object, end: object,
    page: object, per_page: object,
) -> tuple[datetime | None, datetime | None]:
    """``list_runs``' arguments; the time bounds ``(start, end)`` at millisecond precision."""
    if workflow_name is not None:
        v.check_id(workflow_name, "workflow name")
    if resource_id is not None:
        v.check_id(resource_id, "resource id")
    if status is not None:
        v.check_id(status, "status")
    low = check_time(start, "start")
    high = check_time(end, "end")
    v.check_paging(page, per_page)
    return low, high


def has_fields(wanted: Mapping[str, object], field: Callable[[str], object]) -> bool:
    """Whether every given filter (``None``: not given) equals ``field(name)``."""
    return all(value is None or field(name) == value for name, value in wanted.items())


def newest_page(
    matches: Iterable[T],
    *,
    key: Callable[[T], Any],
    page: int,
    per_page: int | None,
    record: Callable[[T], R],
) -> Page[R]:
    """``matches`` sorted on ``key`` descending (newest first), one page of them made
    records by ``record``, and the total."""
    ordered = sorted(matches, key=key, reverse=True)
    return page_of(
        [record(m) for m in page_slice(ordered, page, per_page)],
        total=len(ordered),
        page=page,
        per_page=per_page,
    )
