"""The scratch-database helper the PostgreSQL and pgvector fakes share (fakes/pg.py)."""

from __future__ import annotations

import pytest

from tests.storage.fakes.pg import OncePerProcess


def _counting(result: str | Exception) -> tuple[OncePerProcess, list[int]]:
    calls: list[int] = []

    def make() -> str:
        calls.append(1)
        if isinstance(result, Exception):
            raise result
        return result

    once = OncePerProcess(make, failure=lambda exc: f"down: {exc}", catch=(ConnectionError,))
    return once, calls


def test_the_resource_is_made_once_and_kept() -> None:
    once, calls = _counting("postgresql://db-1")

    assert once.get() == "postgresql://db-1"
    assert once.get() == "postgresql://db-1"
    assert len(calls) == 1


def test_a_failure_is_remembered_and_skips_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tests.conftest.IN_CI", False)
    once, calls = _counting(ConnectionError("refused"))

    for _ in range(2):
        with pytest.raises(pytest.skip.Exception, match="down: refused"):
            once.get()

    assert len(calls) == 1  # not tried again by every later test


def test_under_ci_a_failure_fails_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.conftest.IN_CI", True)
    once, _ = _counting(ConnectionError("refused"))

    with pytest.raises(pytest.fail.Exception, match="CI=true but down: refused"):
        once.get()


def test_an_error_it_was_not_told_to_catch_propagates() -> None:
    once, _ = _counting(ValueError("a bug in make"))

    with pytest.raises(ValueError, match="a bug in make"):
        once.get()
