"""The backends the vector conformance tests run on: a store with ``memory`` and ``vectors``.

Each factory is a context manager taking a scratch folder and yielding an empty store
that has been ``setup()``, whose vector index (where the backend fixes it up front,
as DynamoDB's does) has :data:`DIMENSIONS` dimensions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import storage
from tests.storage.conformance.backends import Backend

DIMENSIONS = 16
"""The dimensions of every conformance vector (DynamoDB's index is created with it)."""


@contextmanager
def _memory(tmp: Path) -> Iterator[Any]:
    store = storage.open("memory://")
    store.setup()
    yield store
    store.close()


VECTOR_BACKENDS: list[Backend] = [
    Backend("memory", _memory),
]


def vector_backend_params() -> list[Any]:
    """``pytest.param`` per vector backend, with its marks."""
    return [pytest.param(b, id=b.name, marks=b.marks) for b in VECTOR_BACKENDS]
