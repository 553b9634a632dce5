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
from tests.storage.conformance.helpers import (
    at,
    domain,
    make_message,
    make_span,
    make_thread,
    new_thread,
    uid,
)


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


# --- thread and resource documents: one verdict per record, whatever the write path -------
# Issue 11: on DynamoDB a 545 KB working memory failed although a blob store was there,
# update_thread took a 500 KB metadata value save_thread refused, and an oversize
# title's error blamed the metadata.


def test_a_545_kb_working_memory(store: Any, backend: Backend) -> None:
    memory = domain(store, "memory")
    resource = uid("res")
    memory.update_resource(resource, working_memory="# notes", metadata={"plan": "pro"})
    notes = "# notes\n" + _text(545_000, 4)
    if not backend.has("overflow"):
        with pytest.raises(storage.ItemTooLargeError):
            memory.update_resource(resource, working_memory=notes)
        kept = memory.get_resource(resource)
        assert (kept.working_memory, kept.metadata) == ("# notes", {"plan": "pro"})
        return
    assert memory.update_resource(resource, working_memory=notes).working_memory == notes
    read = memory.get_resource(resource)
    assert (read.working_memory, read.metadata) == (notes, {"plan": "pro"})
    # a new resource created with it, and a merge afterwards, keep both
    other = uid("res")
    memory.update_resource(other, working_memory=notes)
    merged = memory.update_resource(other, metadata={"k": 1})
    assert (merged.working_memory, merged.metadata) == (notes, {"k": 1})


def test_500_kb_thread_metadata_same_verdict_on_save_and_update(
    store: Any, backend: Backend
) -> None:
    memory = domain(store, "memory")
    value = _text(500_000, 5)
    saved = make_thread(metadata={"big": value})
    small = new_thread(memory, metadata={"a": 1})
    if not backend.has("overflow"):
        with pytest.raises(storage.ItemTooLargeError, match="metadata"):
            memory.save_thread(saved)
        with pytest.raises(storage.ItemTooLargeError, match="metadata"):
            memory.update_thread(small.id, metadata={"big": value})
        assert memory.get_thread(saved.id) is None
        assert memory.get_thread(small.id).metadata == {"a": 1}
        return
    assert memory.save_thread(saved).metadata == {"big": value}
    assert memory.get_thread(saved.id).metadata == {"big": value}
    assert memory.update_thread(small.id, metadata={"big": value}).metadata == {
        "a": 1, "big": value}
    assert memory.get_thread(small.id).metadata == {"a": 1, "big": value}
    listed = memory.list_threads(resource_id=small.resource_id, metadata={"a": 1}).items
    assert [t.metadata for t in listed] == [{"a": 1, "big": value}]
    assert memory.update_thread(small.id, metadata={"b": 2}).metadata == {
        "a": 1, "big": value, "b": 2}


def test_500_kb_title_same_verdict_on_save_and_update(store: Any, backend: Backend) -> None:
    memory = domain(store, "memory")
    title = _text(500_000, 6)
    thread = new_thread(memory, metadata={"a": 1})
    if not backend.has("overflow"):
        for write in (lambda: memory.save_thread(make_thread(title=title)),
                      lambda: memory.update_thread(thread.id, title=title)):
            with pytest.raises(storage.ItemTooLargeError) as caught:
                write()
            assert "title" in str(caught.value) and "metadata" not in str(caught.value)
        assert memory.get_thread(thread.id).title is None
        return
    other = memory.save_thread(make_thread(title=title))
    assert memory.get_thread(other.id).title == title
    updated = memory.update_thread(thread.id, title=title)
    assert (updated.title, updated.metadata) == (title, {"a": 1})
    assert memory.get_thread(thread.id).title == title
    assert memory.update_thread(thread.id, title="short").title == "short"


def test_500_kb_resource_metadata(store: Any, backend: Backend) -> None:
    memory = domain(store, "memory")
    resource = uid("res")
    value = _text(500_000, 7)
    if not backend.has("overflow"):
        with pytest.raises(storage.ItemTooLargeError):
            memory.update_resource(resource, metadata={"big": value})
        assert memory.get_resource(resource) is None
        return
    memory.update_resource(resource, metadata={"big": value})
    memory.update_resource(resource, working_memory="wm", metadata={"small": 1})
    read = memory.get_resource(resource)
    assert (read.working_memory, read.metadata) == ("wm", {"big": value, "small": 1})
