"""Items bigger than a DynamoDB item round-trip exactly, or are refused cleanly.

A backend with ``"overflow"`` in ``lacks`` (DynamoDB without a blob store) must
raise ``ItemTooLargeError`` and store nothing; so must one with ``"large_requests"``
(a 4 MiB cap per write: the Aurora Data API) for the 6 MB snapshot. Every other
backend stores them.
"""

from __future__ import annotations

import random
import string
from typing import Any

import pytest

import storage
from tests.storage.conformance.backends import Backend
from tests.storage.conformance.helpers import at, domain, make_message, make_span, new_thread, uid


def _text(size: int, seed: int) -> str:
    # Random, so no backend can pass by compressing; with a few multi-byte characters.
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + " éß漢🙂"
    return "".join(rng.choice(alphabet) for _ in range(size))


def test_message_with_a_500_kb_text_part(store: Any, backend: Backend) -> None:
    memory = domain(store, "memory")
    thread = new_thread(memory)
    message = make_message(thread.id, _text(500_000, 1), resource_id=thread.resource_id)
    if not backend.has("overflow"):
        with pytest.raises(storage.ItemTooLargeError):
            memory.save_messages([message])
        assert memory.get_messages([message.id]) == []
        assert memory.list_messages(thread.id).total == 0
        return
    memory.save_messages([message])
    assert memory.get_messages([message.id]) == [message]
    assert memory.list_messages(thread.id).items == [message]


def test_large_message_batch_is_all_or_nothing(store: Any, backend: Backend) -> None:
    memory = domain(store, "memory")
    thread = new_thread(memory)
    small = make_message(thread.id, "small", created=1)
    big = make_message(thread.id, _text(450_000, 2), created=2)
    if not backend.has("overflow"):
        with pytest.raises(storage.ItemTooLargeError):
            memory.save_messages([small, big])
        assert memory.get_messages([small.id, big.id]) == []
        return
    memory.save_messages([small, big])
    assert [m.text for m in memory.list_messages(thread.id).items] == [small.text, big.text]


def test_six_megabyte_workflow_snapshot(store: Any, backend: Backend) -> None:
    workflows = domain(store, "workflows")
    name, run_id = uid("wf"), uid("run")
    snapshot = {
        "status": "success",
        "context": {f"step-{i}": {"output": _text(60_000, i)} for i in range(100)},
    }
    if not (backend.has("overflow") and backend.has("large_requests")):
        with pytest.raises(storage.ItemTooLargeError):
            workflows.persist_snapshot(name, run_id, snapshot)
        assert workflows.load_snapshot(name, run_id) is None
        assert workflows.get_run(run_id, workflow_name=name) is None
        return
    workflows.persist_snapshot(name, run_id, snapshot)
    assert workflows.load_snapshot(name, run_id) == snapshot
    assert workflows.get_run(run_id, workflow_name=name).status == "success"


def test_two_megabyte_span_output(store: Any, backend: Backend) -> None:
    observability = domain(store, "observability")
    span = make_span(uid("trace"), started=1, output={"text": _text(2_000_000, 3)},
                     ended_at=at(2))
    if not backend.has("overflow"):
        with pytest.raises(storage.ItemTooLargeError):
            observability.create_spans([span])
        assert observability.get_trace(span.trace_id) == []
        return
    observability.create_spans([span])
    assert observability.get_trace(span.trace_id) == [span]
