"""Fixtures for agent tests: the reference memory store as the fake storage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import storage


@pytest.fixture
def store() -> Iterator[Any]:
    """A fresh ``memory://`` store (all five domains)."""
    opened = storage.open("memory://")
    opened.setup()
    yield opened
    opened.close()


@pytest.fixture
def other_store() -> Iterator[Any]:
    """A second, independent ``memory://`` store."""
    opened = storage.open("memory://")
    opened.setup()
    yield opened
    opened.close()
