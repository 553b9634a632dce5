"""The AWS path end to end: agents on DynamoDB + S3 under moto (what the Lambdas run)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from agents import Agent, App, InlineJobRunner, Memory
from agents.models import FilePart, ScriptedModel

THREAD = {"thread": "t-1", "resource": "u-1"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    pytest.importorskip("storage.dynamodb.store")
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb(with_s3=True) as (store, log):
        yield store, log


def test_turns_on_dynamodb_and_s3(aws: tuple[Any, Any]) -> None:
    store, log = aws
    model = ScriptedModel(["A cat.", "Still a cat."])
    titles = ScriptedModel(["Cat photo"])
    agent = Agent(id="vision", model=model, memory=Memory(generate_title={"model": titles}))
    App(agents=[agent], storage=store, jobs=InlineJobRunner())
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    message = {"role": "user", "content": "What is this?",
               "experimental_attachments": [{"name": "cat.png", "contentType": "image/png",
                                             "url": url}]}

    first = agent.generate([message], memory=THREAD)
    log.reset()
    second = agent.generate("And now?", memory=THREAD)
    turn_requests = dict(log.calls)

    # The stored message points at S3; the object holds the bytes; the model got them.
    stored = store.memory.list_messages("t-1").items
    uri = stored[0].content["experimental_attachments"][0]["url"]
    assert uri.startswith("s3://") and "/attachments/u-1/t-1/" in uri
    assert store.blobs.get(uri) == PNG
    files = [p for p in model.requests[0].messages[-1].parts if isinstance(p, FilePart)]
    assert files[0].data == PNG
    recalled = [p for p in model.requests[1].messages[0].parts if isinstance(p, FilePart)]
    assert recalled[0].data == PNG  # read back from S3 on the next turn
    assert [m.text for m in stored] == ["What is this?", "A cat.", "And now?", "Still a cat."]
    assert store.memory.get_thread("t-1").title == "Cat photo"
    # Runs and spans are recorded and found.
    assert store.workflows.get_run(second.run_id).status == "success"
    traces = store.observability.list_traces(entity_type="agent", entity_id="vision")
    assert {t.run_id for t in traces.items} == {first.run_id, second.run_id}
    # A turn's messages and the thread bump are one DynamoDB transaction.
    assert turn_requests.get("dynamodb.TransactWriteItems") == 1, turn_requests
