"""Failures the reliability suites found, kept as plain tests on every backend they hit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import storage
from storage import Score, Span, Thread
from tests.reliability.support import backend

NAMES = ("memory", "sqlite", "postgres", "data-api", "dynamodb")


@pytest.fixture(params=[pytest.param(n, marks=backend(n).marks) for n in NAMES])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    with backend(request.param).factory(tmp_path) as opened:
        yield opened


@pytest.mark.parametrize("field", ["reason", "source", "entity_id", "thread_id"])
def test_a_score_text_field_with_a_lone_surrogate_is_refused(store: Any, field: str) -> None:
    # SQLite raised a raw UnicodeEncodeError; the reference stored it.
    bad = Score(id="sc", scorer_id="s", score=0.5, run_id="run", **{field: "a\ud800b"})
    with pytest.raises(storage.ValidationError):
        store.scores.save_score(bad)
    assert store.scores.get_score("sc") is None


def test_a_span_text_field_with_a_nul_is_refused(store: Any) -> None:
    from storage.timeutil import utcnow

    bad = Span(trace_id="tr", span_id="s", name="n", span_type="agent_run", started_at=utcnow(),
               entity_name="a\x00b")
    with pytest.raises(storage.ValidationError):
        store.observability.create_spans([bad])
    assert store.observability.get_trace("tr") == []


@pytest.mark.parametrize("value", [
    {"": 1},  # DynamoDB under moto stored it, then every read of the thread crashed
    {"deep": [{"": None}]},
    10**40,  # more than DynamoDB's 38 digits: refused by DynamoDB only, before
    1e-200,
    1e200,
])
def test_metadata_every_backend_cannot_hold_is_refused_everywhere(store: Any, value: Any) -> None:
    store.memory.save_thread(Thread(id="t", resource_id="r", metadata={"ok": 1}))
    with pytest.raises(storage.ValidationError):
        store.memory.save_thread(Thread(id="t", resource_id="r", metadata={"k": value}))
    with pytest.raises(storage.ValidationError):
        store.memory.update_thread("t", metadata={"k": value})
    with pytest.raises(storage.ValidationError):
        store.memory.update_resource("r", metadata={"k": value})
    thread = store.memory.get_thread("t")
    assert thread is not None and thread.metadata == {"ok": 1}
    assert store.memory.get_resource("r") is None


def test_an_update_whose_row_is_over_64_kb_succeeds(store: Any) -> None:
    # The Data API answered ItemTooLargeError for a committed update (RETURNING the big row).
    big = "é" * 40_000
    store.memory.save_thread(Thread(id="t", resource_id="r"))
    assert store.memory.update_thread("t", metadata={"k": big}).metadata == {"k": big}
    assert store.memory.update_resource("r", metadata={"k": big}).metadata == {"k": big}
    assert store.memory.get_thread("t").metadata == {"k": big}
