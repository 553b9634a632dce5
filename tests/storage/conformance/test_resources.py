"""Resources: created on update, metadata merged, working memory stored exactly."""

from __future__ import annotations

from typing import Any

import pytest

from tests.storage.conformance.helpers import domain, uid


@pytest.fixture
def memory(store: Any) -> Any:
    return domain(store, "memory")


def test_missing_resource_is_none(memory: Any) -> None:
    assert memory.get_resource(uid("res")) is None


def test_update_creates_the_resource(memory: Any) -> None:
    resource_id = uid("res")
    created = memory.update_resource(resource_id, working_memory="# Notes", metadata={"a": 1})
    assert (created.id, created.working_memory) == (resource_id, "# Notes")
    assert created.metadata == {"a": 1}
    assert memory.get_resource(resource_id) == created


def test_metadata_is_merged_and_working_memory_kept(memory: Any) -> None:
    resource_id = uid("res")
    first = memory.update_resource(resource_id, working_memory="wm", metadata={"a": 1, "b": 2})
    memory.update_resource(resource_id, metadata={"b": 3, "c": {"d": 4}})
    stored = memory.get_resource(resource_id)
    assert stored.metadata == {"a": 1, "b": 3, "c": {"d": 4}}
    assert stored.working_memory == "wm"
    assert stored.created_at == first.created_at
    assert stored.updated_at >= first.updated_at


def test_working_memory_replaced_metadata_kept(memory: Any) -> None:
    resource_id = uid("res")
    memory.update_resource(resource_id, working_memory="old", metadata={"k": "v"})
    memory.update_resource(resource_id, working_memory="new")
    stored = memory.get_resource(resource_id)
    assert (stored.working_memory, stored.metadata) == ("new", {"k": "v"})


def test_ten_kilobytes_of_working_memory_round_trip(memory: Any) -> None:
    resource_id = uid("res")
    text = "\n".join(f"- fact {i}: " + "x" * 90 for i in range(100))
    assert len(text.encode()) > 10_000
    memory.update_resource(resource_id, working_memory=text)
    assert memory.get_resource(resource_id).working_memory == text


def test_unicode_and_emoji_round_trip(memory: Any) -> None:
    resource_id = uid("res-ñ")
    text = "名前: 山田 🌸\nPréférences: café ☕, emoji 👩‍👩‍👧‍👦, RTL שלום"
    memory.update_resource(resource_id, working_memory=text, metadata={"city": "Zürich 🏔"})
    stored = memory.get_resource(resource_id)
    assert stored.working_memory == text
    assert stored.metadata == {"city": "Zürich 🏔"}
