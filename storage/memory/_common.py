"""Helpers shared by the in-memory domains: copies; paging and time bounds (``storage.paging``)."""

from __future__ import annotations

import copy
from typing import TypeVar

from storage.paging import check_time as check_time
from storage.paging import page_slice as page_slice
from storage.paging import within as within

T = TypeVar("T")


def clone(value: T) -> T:
    """A deep copy, so neither the caller nor the store can mutate the other's data."""
    return copy.deepcopy(value)
