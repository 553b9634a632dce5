"""The api Lambda over DynamoDB + S3 under moto: the deployed storage, same answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from agents import App
from handlers import _wiring
from tests.handlers.conftest import Call, call_api, make_app

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x01" * 256).decode()


@pytest.fixture
def aws_app(aws_store: Any) -> App:
    served = make_app(aws_store)
    _wiring.use_app(served)
    return served


@pytest.fixture
def aws_api(aws_app: App) -> Call:
    return call_api


def test_conversation_round_trip_on_dynamodb_and_s3(aws_api: Call, aws_app: App) -> None:
    # Given a turn with an inline image, When it is generated through the api
    reply = aws_api("POST", "/api/agents/assistant/generate", body={
        "messages": [{"role": "user", "content": "what is this?",
                      "experimental_attachments": [{"name": "x.png", "contentType": "image/png",
                                                    "url": f"data:image/png;base64,{PNG}"}]}],
        "memory": {"thread": "t-1", "resource": "u-1"}})
    assert reply.status == 200, reply.body
    # Then the stored message points at S3 and the API hands out a presigned URL
    stored = aws_app.storage.memory.list_messages("t-1").items[0]
    uri = stored.content["experimental_attachments"][0]["url"]
    assert uri.startswith("s3://stowage-test/")
    listed = aws_api("GET", "/api/memory/threads/t-1/messages")
    url = listed.body["messages"][0]["content"]["experimental_attachments"][0]["url"]
    assert url.startswith("https://") and "X-Amz-Signature=" in url
    assert listed.body["total"] == 2
    # And the thread lists, renames and deletes like on any backend
    threads = aws_api("GET", "/api/memory/threads", query={"resourceId": "u-1"})
    assert [t["id"] for t in threads.body["threads"]] == ["t-1"]
    renamed = aws_api("PATCH", "/api/memory/threads/t-1", body={"title": "An image"})
    assert renamed.body["title"] == "An image"
    assert aws_api("DELETE", "/api/memory/threads/t-1").status == 200
    assert aws_api("GET", "/api/memory/threads/t-1").status == 404
    assert aws_app.storage.memory.list_messages("t-1").total == 0


def test_working_memory_on_dynamodb(aws_api: Call, aws_app: App) -> None:
    aws_api("POST", "/api/memory/threads", body={"resourceId": "u-1", "threadId": "t-1"})
    assert aws_api("POST", "/api/memory/threads/t-1/working-memory",
                   body={"workingMemory": "# Ada"}).status == 200
    got = aws_api("GET", "/api/memory/threads/t-1/working-memory",
                  query={"agentId": "assistant"})
    assert got.body["workingMemory"] == "# Ada"


def test_attachment_grant_is_a_bounded_presigned_post(aws_api: Call, aws_app: App) -> None:
    aws_api("POST", "/api/memory/threads", body={"resourceId": "u-1", "threadId": "t-1"})
    grant = aws_api("POST", "/api/attachments",
                    body={"contentType": "application/pdf", "size": 2048, "threadId": "t-1"})
    assert grant.status == 200, grant.body
    assert grant.body["uri"].startswith("s3://stowage-test/")
    assert grant.body["key"].startswith("attachments/u-1/t-1/")
    policy = json.loads(base64.b64decode(grant.body["fields"]["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, 2048] in conditions
    assert any(c == {"Content-Type": "application/pdf"} for c in conditions)
