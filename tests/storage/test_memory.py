"""Details of the ``memory://`` backend that other backends do not share."""

from __future__ import annotations

import base64
import io

import pytest

import storage
from storage.memory import InMemoryStore


@pytest.fixture
def mem() -> InMemoryStore:
    opened = storage.open("memory://")
    assert isinstance(opened, InMemoryStore)
    return opened


def _message(mid: str, thread_id: str, text: str = "hi") -> storage.Message:
    return storage.Message(
        id=mid,
        thread_id=thread_id,
        role="user",
        content={"format": 2, "parts": [{"type": "text", "text": text}], "metadata": {"k": 1}},
    )


def test_each_open_is_a_new_empty_store(mem: InMemoryStore) -> None:
    mem.memory.save_thread(storage.Thread(id="t", resource_id="r"))
    other = storage.open("memory://")
    assert other.memory.get_thread("t") is None
    assert mem.memory.get_thread("t") is not None


def test_caller_mutation_of_saved_input_does_not_reach_the_store(mem: InMemoryStore) -> None:
    thread = storage.Thread(id="t", resource_id="r", metadata={"tags": ["a"]})
    mem.memory.save_thread(thread)
    thread.metadata["tags"].append("b")
    thread.metadata["new"] = 1
    message = _message("m", "t")
    mem.memory.save_messages([message])
    message.content["parts"][0]["text"] = "changed"

    assert mem.memory.get_thread("t").metadata == {"tags": ["a"]}  # type: ignore[union-attr]
    assert mem.memory.get_messages(["m"])[0].text == "hi"


def test_caller_mutation_of_returned_records_does_not_reach_the_store(mem: InMemoryStore) -> None:
    mem.memory.save_thread(storage.Thread(id="t", resource_id="r", metadata={"a": {"b": 1}}))
    mem.memory.save_messages([_message("m", "t")])
    mem.workflows.persist_snapshot("wf", "run", {"status": "running", "steps": {"x": 1}})

    got = mem.memory.get_thread("t")
    assert got is not None
    got.metadata["a"]["b"] = 2
    listed = mem.memory.list_messages("t").items[0]
    listed.content["metadata"]["k"] = 99
    snapshot = mem.workflows.load_snapshot("wf", "run")
    assert snapshot is not None
    snapshot["steps"]["x"] = 2

    assert mem.memory.get_thread("t").metadata == {"a": {"b": 1}}  # type: ignore[union-attr]
    assert mem.memory.get_messages(["m"])[0].content["metadata"] == {"k": 1}
    assert mem.workflows.load_snapshot("wf", "run") == {"status": "running", "steps": {"x": 1}}


def test_url_for_is_a_self_contained_data_url(mem: InMemoryStore) -> None:
    payload = bytes(range(256))
    uri = mem.blobs.put("a/b.bin", payload, content_type="image/png")
    url = mem.blobs.url_for(uri)
    header, _, body = url.partition(",")
    assert header == "data:image/png;base64"
    assert base64.b64decode(body) == payload


def test_url_for_defaults_to_octet_stream(mem: InMemoryStore) -> None:
    uri = mem.blobs.put("k", io.BytesIO(b"xyz"))
    assert uri == "memory://blobs/k"
    assert mem.blobs.url_for(uri).startswith("data:application/octet-stream;base64,")


def test_blob_uris_of_another_scheme_or_shape_are_refused(mem: InMemoryStore) -> None:
    with pytest.raises(storage.ValidationError):
        mem.blobs.get("s3://bucket/k")
    with pytest.raises(storage.ValidationError):
        mem.blobs.get("memory://other/k")
    with pytest.raises(storage.NotFoundError):
        mem.blobs.get("memory://blobs/missing")


def test_text_mode_file_is_refused_and_nothing_stored(mem: InMemoryStore) -> None:
    with pytest.raises(storage.ValidationError):
        mem.blobs.put("k", io.StringIO("text"))  # type: ignore[arg-type]
    with pytest.raises(storage.NotFoundError):
        mem.blobs.get("memory://blobs/k")


def test_delete_thread_without_blob_store_still_deletes_messages() -> None:
    from storage.memory import InMemoryMemoryStore

    memory = InMemoryMemoryStore()
    memory.save_thread(storage.Thread(id="t", resource_id="r"))
    memory.save_messages([_message("m", "t")])
    memory.delete_thread("t")
    assert memory.get_messages(["m"]) == []
