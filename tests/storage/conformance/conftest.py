"""The ``store`` fixture, parametrized over every backend in ``backends.BACKENDS``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.storage.conformance.backends import BACKENDS, Backend


@pytest.fixture(params=[pytest.param(b, id=b.name, marks=b.marks) for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store(backend: Backend, tmp_path: Path) -> Iterator[Any]:
    with backend.factory(tmp_path) as opened:
        yield opened
