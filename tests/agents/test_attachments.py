"""Attachments are offloaded to blobs before anything is stored; the model gets the bytes."""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

import storage
from agents import Agent, App, AttachmentUploader, Memory
from agents.models import FilePart, ScriptedModel
from agents.models.bedrock import BedrockModel
from storage.keys import attachment_key
from tests.agents.fakes import FakeBedrockRuntime, converse_response

THREAD = {"thread": "t-1", "resource": "u-1"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"x" * 1000


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _message() -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "file", "data": _data_url("application/pdf", PDF),
             "mimeType": "application/pdf", "filename": "report.pdf"},
        ],
        "experimental_attachments": [
            {"name": "cat.png", "contentType": "image/png", "url": _data_url("image/png", PNG)},
        ],
    }


def _files(model: ScriptedModel) -> list[FilePart]:
    return [p for p in model.requests[0].messages[-1].parts if isinstance(p, FilePart)]


def test_data_urls_become_blob_uris_before_storage(store: Any) -> None:
    model = ScriptedModel(["A report and a cat."])
    agent = Agent(id="a", model=model)
    App(agents=[agent], storage=store)

    result = agent.generate([_message()], memory=THREAD)

    stored = store.memory.list_messages("t-1").items[0].content
    file_uri = stored["parts"][1]["data"]
    att_uri = stored["experimental_attachments"][0]["url"]
    assert not file_uri.startswith("data:") and not att_uri.startswith("data:")
    assert store.blobs.get(file_uri) == PDF and store.blobs.get(att_uri) == PNG
    assert att_uri.endswith(attachment_key("u-1", "t-1", hashlib.sha256(PNG).hexdigest()))
    assert result.messages[0].content == stored
    files = _files(model)
    assert [(f.media_type, f.data) for f in files] == [("application/pdf", PDF),
                                                       ("image/png", PNG)]


def test_recalled_attachments_are_read_back_from_blobs(store: Any) -> None:
    model = ScriptedModel(["first", "second"])
    agent = Agent(id="a", model=model)
    App(agents=[agent], storage=store)
    agent.generate([_message()], memory=THREAD)

    agent.generate("and now?", memory=THREAD)

    recalled = [p for p in model.requests[1].messages[0].parts if isinstance(p, FilePart)]
    assert [f.data for f in recalled] == [PDF, PNG]


def test_same_bytes_stored_once_per_thread(store: Any) -> None:
    agent = Agent(id="a")
    App(agents=[agent], storage=store)
    agent.generate([_message()], memory=THREAD)
    agent.generate([_message()], memory=THREAD)
    uris = {m.content["experimental_attachments"][0]["url"]
            for m in store.memory.list_messages("t-1").items if m.role == "user"}
    assert len(uris) == 1


def test_without_thread_nothing_is_uploaded(store: Any) -> None:
    model = ScriptedModel(["ok"])
    agent = Agent(id="a", model=model)
    App(agents=[agent], storage=store)
    result = agent.generate([_message()])
    assert result.messages[0].content["parts"][1]["data"].startswith("data:")
    assert [f.data for f in _files(model)] == [PDF, PNG]


def test_uploader_can_be_turned_off(store: Any) -> None:
    agent = Agent(id="a", upload_attachments=False)
    App(agents=[agent], storage=store)
    agent.generate([_message()], memory=THREAD)
    stored = store.memory.list_messages("t-1").items[0].content
    assert stored["parts"][1]["data"].startswith("data:")


def test_explicit_uploader_with_its_own_blob_store(store: Any, other_store: Any) -> None:
    agent = Agent(id="a", input_processors=[AttachmentUploader(other_store.blobs)])
    App(agents=[agent], storage=store)
    agent.generate([_message()], memory=THREAD)
    uri = store.memory.list_messages("t-1").items[0].content["experimental_attachments"][0]["url"]
    assert other_store.blobs.get(uri) == PNG


def test_bad_base64_is_refused_and_nothing_stored(store: Any) -> None:
    agent = Agent(id="a")
    App(agents=[agent], storage=store)
    bad = {"role": "user", "content": "x",
           "experimental_attachments": [{"url": "data:image/png;base64,@@@", "name": "x"}]}
    with pytest.raises(storage.ValidationError):
        agent.generate([bad], memory=THREAD)
    assert store.memory.list_messages("t-1").total == 0


@pytest.fixture
def s3_store(store: Any) -> Iterator[Any]:
    spec = importlib.util.find_spec("storage.s3")
    if spec is None or not hasattr(importlib.import_module("storage.s3"), "open_url"):
        pytest.skip("the S3 blob store (storage/s3) has not landed yet")
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="stowage-test")
        composite = storage.CompositeStore(store, blobs=storage.open("s3://stowage-test/app"))
        composite.setup()
        yield composite


def test_s3_offload_under_moto(s3_store: Any) -> None:
    model = ScriptedModel(["seen"])
    agent = Agent(id="a", model=model)
    App(agents=[agent], storage=s3_store)

    agent.generate([_message()], memory=THREAD)

    stored = s3_store.memory.list_messages("t-1").items[0].content
    uri = stored["experimental_attachments"][0]["url"]
    assert uri.startswith("s3://stowage-test/app/attachments/u-1/t-1/")
    key = uri.removeprefix("s3://stowage-test/")
    body = boto3.client("s3", region_name="us-east-1").get_object(Bucket="stowage-test", Key=key)
    assert body["Body"].read() == PNG
    assert [f.data for f in _files(model)] == [PDF, PNG]


def test_s3_location_for_bedrock_models_that_accept_it(s3_store: Any) -> None:
    client = FakeBedrockRuntime(converse=[converse_response({"text": "a cat"})])
    model = BedrockModel("us.amazon.nova-lite-v1:0", client=client)
    agent = Agent(id="a", model=model, memory=Memory())
    App(agents=[agent], storage=s3_store)

    agent.generate([_message()], memory=THREAD)

    blocks = client.calls[0][1]["messages"][0]["content"]
    image = next(b for b in blocks if "image" in b)["image"]
    assert image["source"]["s3Location"]["uri"].startswith("s3://stowage-test/app/attachments/")


def test_a_blob_reference_is_not_mistaken_for_base64(store: Any) -> None:
    uri = store.blobs.put(attachment_key("u-1", "t-1", "abc"), PNG, content_type="image/png")
    model = ScriptedModel(["ok"])
    agent = Agent(id="a", model=model)
    App(agents=[agent], storage=store)

    msg = {"role": "user", "content": "see", "experimental_attachments": [
        {"url": uri, "contentType": "image/png"}]}
    agent.generate([msg], memory=THREAD)

    stored = store.memory.list_messages("t-1").items[0]
    assert stored.content["experimental_attachments"][0]["url"] == uri
    assert [f.data for f in _files(model)] == [PNG]


def test_inline_detection() -> None:
    from agents.messages import decode_data, is_inline

    assert is_inline("data:text/plain;base64,aGk=")
    assert decode_data("data:,hi%20there") == b"hi there"
    assert is_inline("aGVsbG8=") and decode_data("aGVsbG8=") == b"hello"
    for reference in ("attachments/u1/t1/abcd", "s3://b/k", "file:///x", "https://x/y", "/abs"):
        assert not is_inline(reference) and decode_data(reference) is None
