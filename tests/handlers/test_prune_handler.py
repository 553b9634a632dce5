"""The scheduled prune's handler: one prune within the invocation's time, a receipt back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import storage
from agents.app import App
from handlers._wiring import reset, use_app
from handlers.events import LocalContext
from handlers.prune import MARGIN_S, handler
from storage.lifecycle import Retention
from storage.records import Thread
from storage.timeutil import utcnow


class ShortContext(LocalContext):
    def get_remaining_time_in_millis(self) -> int:
        return int((MARGIN_S + 30) * 1000)


@pytest.fixture
def store() -> Any:
    opened = storage.open("memory://")
    opened.attach_retention(Retention(threads=timedelta(days=30)))
    use_app(App(storage=opened))
    yield opened
    reset()


def test_the_schedule_prunes_and_answers_the_receipt(store: Any) -> None:
    old = utcnow() - timedelta(days=31)
    store.memory.save_thread(Thread(id="t-old", resource_id="u", created_at=old, updated_at=old))
    store.memory.save_thread(Thread(id="t-new", resource_id="u"))
    answer = handler({"source": "aws.events", "detail-type": "Scheduled Event"}, ShortContext())
    assert answer["counts"]["threads"] == 1 and answer["complete"] is True
    assert store.memory.get_thread("t-old") is None
    assert store.memory.get_thread("t-new") is not None
