"""storage.paging: the listing the reference backend and DynamoDB's index reads share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import storage
from storage.paging import check_run_listing, has_fields, newest_page


def test_newest_page_sorts_descending_and_counts_every_match() -> None:
    items = [(1, "a"), (3, "b"), (2, "c"), (3, "a")]
    made: list[tuple[int, str]] = []

    def record(item: tuple[int, str]) -> str:
        made.append(item)
        return f"{item[0]}{item[1]}"

    page = newest_page(items, key=lambda i: i, page=0, per_page=2, record=record)

    assert page.items == ["3b", "3a"]  # ties broken by the rest of the key, descending
    assert page.total == 4
    assert made == [(3, "b"), (3, "a")]  # only the page is turned into records


def test_newest_page_without_per_page_is_everything() -> None:
    page = newest_page([1, 3, 2], key=lambda i: i, page=0, per_page=None, record=str)
    assert page.items == ["3", "2", "1"]
    assert page.total == 3


def test_a_page_past_the_end_is_empty_but_keeps_the_total() -> None:
    page = newest_page([1, 2], key=lambda i: i, page=5, per_page=2, record=str)
    assert page.items == []
    assert page.total == 2


def test_has_fields_ignores_filters_not_given() -> None:
    fields = {"run_id": "r1", "scorer_id": "s1"}
    assert has_fields({"run_id": "r1", "scorer_id": None}, fields.get)
    assert not has_fields({"run_id": "r2", "scorer_id": None}, fields.get)
    assert has_fields({}, fields.get)


def test_run_listing_bounds_are_milliseconds_and_bad_ones_are_refused() -> None:
    start = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    low, high = check_run_listing(None, None, None, start, None, 0, 10)
    assert low == start - timedelta(microseconds=456)
    assert high is None
    with pytest.raises(storage.ValidationError):
        check_run_listing(None, None, None, "yesterday", None, 0, 10)
    with pytest.raises(storage.ValidationError):
        check_run_listing("", None, None, None, None, 0, 10)
    with pytest.raises(storage.ValidationError):
        check_run_listing(None, None, None, None, None, -1, 10)
