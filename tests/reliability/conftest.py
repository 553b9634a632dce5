"""Hypothesis profiles for the reliability suites (state machine, fuzzing).

``ci`` (the default, and what ``CI=true`` gets): at least 200 examples (sequences)
per backend. ``deep`` (``HYPOTHESIS_PROFILE=deep``): ten times as many, for a long
local run. The profiles are registered here but not loaded globally, so other test
packages keep their own settings; the reliability tests apply :data:`PROFILE`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.reliability.lifecycle_hostile import BLOB_BACKENDS

_COMMON = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
    "print_blob": True,
}

settings.register_profile("ci", max_examples=200, stateful_step_count=12, **_COMMON)
settings.register_profile("deep", max_examples=2000, stateful_step_count=30, **_COMMON)

PROFILE_NAME = os.environ.get("HYPOTHESIS_PROFILE") or "ci"
if PROFILE_NAME not in ("ci", "deep"):
    PROFILE_NAME = "ci"
PROFILE = settings.get_profile(PROFILE_NAME)


@pytest.fixture(params=[pytest.param(b, id=b.name, marks=b.marks) for b in BLOB_BACKENDS])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A store with a blob store, on each kind of backend (the lifecycle attack tests)."""
    with request.param.factory(tmp_path) as opened:
        yield opened
