"""update_messages and delete_messages."""

from __future__ import annotations

from typing import Any

import pytest

import storage
from storage import MessageUpdate
from tests.storage.conformance.helpers import (
    at,
    content,
    conversation,
    domain,
    ids,
    make_message,
    new_thread,
    uid,
)


@pytest.fixture
def memory(store: Any) -> Any:
    return domain(store, "memory")


def _saved(memory: Any, thread_id: str, **content_extra: Any) -> Any:
    message = make_message(thread_id, "original", created=1)
    message.content.update(content_extra)
    return memory.save_messages([message])[0]


def test_update_role_only_keeps_content(memory: Any) -> None:
    thread = new_thread(memory)
    message = _saved(memory, thread.id)
    [updated] = memory.update_messages([MessageUpdate(id=message.id, role="assistant")])
    assert updated.role == "assistant"
    assert updated.content == message.content
    assert memory.get_messages([message.id]) == [updated]


def test_update_content_is_a_shallow_merge(memory: Any) -> None:
    thread = new_thread(memory)
    message = _saved(memory, thread.id, content="original")
    new_parts = [{"type": "text", "text": "edited"}]
    memory.update_messages([MessageUpdate(id=message.id, content={"parts": new_parts})])
    stored = memory.get_messages([message.id])[0]
    assert stored.content == {"format": 2, "parts": new_parts, "content": "original"}
    assert stored.created_at == message.created_at
    assert stored.thread_id == thread.id


def test_update_content_metadata_is_deep_merged(memory: Any) -> None:
    thread = new_thread(memory)
    message = _saved(memory, thread.id, metadata={"a": {"x": 1, "y": 2}, "b": 1})
    memory.update_messages(
        [MessageUpdate(id=message.id, content={"metadata": {"a": {"y": 3, "z": 4}}})]
    )
    assert memory.get_messages([message.id])[0].content["metadata"] == {
        "a": {"x": 1, "y": 3, "z": 4},
        "b": 1,
    }


def test_update_metadata_shortcut_merges_into_content_metadata(memory: Any) -> None:
    thread = new_thread(memory)
    message = _saved(memory, thread.id, metadata={"keep": True})
    memory.update_messages([MessageUpdate(id=message.id, metadata={"added": [1, 2]})])
    stored = memory.get_messages([message.id])[0]
    assert stored.content["metadata"] == {"keep": True, "added": [1, 2]}
    assert stored.content["parts"] == message.content["parts"]


def test_update_moves_and_bumps_both_threads(memory: Any) -> None:
    a = new_thread(memory)
    b = new_thread(memory, a.resource_id)
    message = _saved(memory, a.id)
    memory.save_thread(a)  # reset updated_at to T0 after the save bumped it
    memory.update_messages([MessageUpdate(id=message.id, thread_id=b.id)])
    assert memory.list_messages(a.id).total == 0
    assert ids(memory.list_messages(b.id)) == [message.id]
    assert memory.get_thread(a.id).updated_at > at(0)
    assert memory.get_thread(b.id).updated_at > at(0)


def test_update_unknown_message_applies_nothing(memory: Any) -> None:
    thread = new_thread(memory)
    message = _saved(memory, thread.id)
    with pytest.raises(storage.NotFoundError):
        memory.update_messages([
            MessageUpdate(id=message.id, role="assistant"),
            MessageUpdate(id=uid("missing"), role="assistant"),
        ])
    assert memory.get_messages([message.id]) == [message]


def test_update_to_missing_thread_applies_nothing(memory: Any) -> None:
    thread = new_thread(memory)
    message = _saved(memory, thread.id)
    with pytest.raises(storage.NotFoundError):
        memory.update_messages([MessageUpdate(id=message.id, thread_id=uid("nowhere"))])
    assert memory.get_messages([message.id]) == [message]


def test_update_with_invalid_role_applies_nothing(memory: Any) -> None:
    thread = new_thread(memory)
    message = _saved(memory, thread.id)
    with pytest.raises(storage.ValidationError):
        memory.update_messages([
            MessageUpdate(id=message.id, content=content("changed")),
            MessageUpdate(id=message.id, role="robot"),
        ])
    assert memory.get_messages([message.id]) == [message]


def test_delete_messages_removes_only_those(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 4)
    memory.delete_messages([saved[1].id, saved[3].id])
    assert ids(memory.list_messages(thread.id)) == [saved[0].id, saved[2].id]
    assert memory.get_messages([saved[1].id]) == []


def test_delete_messages_ignores_unknown_and_empty(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 2)
    memory.delete_messages([])
    memory.delete_messages([uid("unknown"), saved[0].id])
    assert ids(memory.list_messages(thread.id)) == [saved[1].id]


def test_delete_messages_bumps_their_thread(memory: Any) -> None:
    thread = new_thread(memory)
    saved = conversation(memory, thread.id, 2)
    memory.save_thread(thread)  # back to updated_at == T0
    memory.delete_messages([saved[0].id])
    assert memory.get_thread(thread.id).updated_at > at(0)


def test_update_batch_moving_through_a_missing_thread_applies_nothing(memory: Any) -> None:
    a = new_thread(memory)
    b = new_thread(memory, a.resource_id)
    message = _saved(memory, a.id)
    with pytest.raises(storage.NotFoundError):
        memory.update_messages([
            MessageUpdate(id=message.id, thread_id=uid("nowhere")),
            MessageUpdate(id=message.id, thread_id=b.id),
        ])
    assert memory.get_messages([message.id]) == [message]
