"""``make dev`` prunes in the background when a retention is configured, and only then."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

import handlers.local as local
import storage
from agents.app import App
from handlers._wiring import reset, use_app
from storage.lifecycle import Retention
from storage.records import Thread
from storage.timeutil import utcnow


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    store = storage.open("memory://")
    use_app(App(storage=store))
    yield store
    reset()


def _old_thread(store: Any) -> str:
    old = utcnow() - timedelta(days=3)
    store.memory.save_thread(Thread(id="t-old", resource_id="u", created_at=old, updated_at=old))
    return "t-old"


async def _serve_until(predicate: Any, seconds: float = 5.0) -> bool:
    async with LifespanManager(local.app):
        for _ in range(int(seconds / 0.05)):
            if predicate():
                return True
            await asyncio.sleep(0.05)
    return predicate()


def test_the_dev_server_prunes_what_is_past_its_age(
    served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    served.attach_retention(Retention(threads=timedelta(days=1)))
    monkeypatch.setenv("STOWAGE_PRUNE_INTERVAL", "0.1")
    thread_id = _old_thread(served)
    assert asyncio.run(_serve_until(lambda: served.memory.get_thread(thread_id) is None))


def test_without_retention_or_with_interval_zero_nothing_is_pruned(
    served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = _old_thread(served)
    monkeypatch.setenv("STOWAGE_PRUNE_INTERVAL", "0.05")
    assert not asyncio.run(_serve_until(lambda: served.memory.get_thread(thread_id) is None, 0.5))
    served.attach_retention(Retention(threads=timedelta(days=1)))
    monkeypatch.setenv("STOWAGE_PRUNE_INTERVAL", "0")
    assert not asyncio.run(_serve_until(lambda: served.memory.get_thread(thread_id) is None, 0.5))


@pytest.mark.parametrize("value", ["soon", "-5", "nan"])
def test_a_bad_interval_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ValueError, match="STOWAGE_PRUNE_INTERVAL"):
        local.prune_interval({"STOWAGE_PRUNE_INTERVAL": value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("STOWAGE_RETENTION", "threads=soon"), ("STOWAGE_PRUNE_INTERVAL", "-1")],
)
def test_make_dev_refuses_a_bad_setting_before_serving(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        local.main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith(f"stowage dev server: {name}")
