"""The dev server (``make dev``) over HTTP: the api, the stream, signed blobs and uploads."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from handlers import _wiring
from handlers.local import app as local_app
from tests.handlers.servers import free_port, serve

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    monkeypatch.setenv("STOWAGE_STORAGE_URL", f"sqlite:///{tmp_path}/stowage.db")
    monkeypatch.setenv("STOWAGE_BLOBS_URL", f"file:///{tmp_path}/blobs")
    monkeypatch.setenv("STOWAGE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("STOWAGE_JOBS", "inline")
    _wiring.reset()
    with serve(local_app, port) as url:
        yield url


def test_generate_then_download_the_attachment_by_its_signed_url(base: str) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    reply = httpx.post(f"{base}/api/agents/assistant/generate", json={
        "messages": [{"role": "user", "content": "see",
                      "experimental_attachments": [{"name": "p.png", "contentType": "image/png",
                                                    "url": data_url}]}],
        "memory": {"thread": "t-1", "resource": "u-1"}})
    assert reply.status_code == 200, reply.text
    listed = httpx.get(f"{base}/api/memory/threads/t-1/messages").json()
    url = listed["messages"][0]["content"]["experimental_attachments"][0]["url"]
    assert url.startswith(f"{base}/api/blobs/attachments/")
    blob = httpx.get(url)
    assert blob.status_code == 200 and blob.content == PNG
    assert blob.headers["content-type"] == "image/png"
    tampered = url.replace("signature=", "signature=0")
    assert httpx.get(tampered).status_code == 403


def test_upload_grant_then_form_upload_then_reference_it(base: str) -> None:
    httpx.post(f"{base}/api/memory/threads", json={"resourceId": "u-1", "threadId": "t-1"})
    grant = httpx.post(f"{base}/api/attachments", json={
        "contentType": "image/png", "size": len(PNG), "threadId": "t-1"}).json()
    assert grant["url"].startswith(f"{base}/api/attachments/upload/attachments/u-1/t-1/")
    # Uploading the same way as to an S3 presigned POST: fields, then the file
    done = httpx.post(grant["url"], data=grant["fields"],
                      files={"file": ("p.png", PNG, "image/png")})
    assert done.status_code == 204, done.text
    too_big = httpx.post(grant["url"], files={"file": ("p.png", PNG + b"x", "image/png")})
    assert too_big.status_code == 413
    wrong_type = httpx.post(grant["url"], content=PNG, headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 400
    forged = grant["url"].replace("max=", "max=9")
    assert httpx.post(forged, content=PNG, headers={"content-type": "image/png"}).status_code \
        == 403
    # The message references the uploaded blob by its URI; the model sees the bytes
    reply = httpx.post(f"{base}/api/agents/assistant/generate", json={
        "messages": [{"role": "user", "content": "what is it?",
                      "experimental_attachments": [{"name": "p.png", "contentType": "image/png",
                                                    "url": grant["uri"]}]}],
        "memory": {"thread": "t-1", "resource": "u-1"}})
    assert reply.status_code == 200
    listed = httpx.get(f"{base}/api/memory/threads/t-1/messages").json()
    url = listed["messages"][0]["content"]["experimental_attachments"][0]["url"]
    assert httpx.get(url).content == PNG
    # Deleting the thread deletes the upload
    assert httpx.delete(f"{base}/api/memory/threads/t-1").json() == {"result": "Thread deleted"}
    assert httpx.get(url).status_code == 404


def test_stream_and_api_share_one_server(base: str) -> None:
    with httpx.stream("POST", f"{base}/api/agents/assistant/stream",
                      json={"messages": "hi", "memory": {"thread": "t-1",
                                                         "resource": "u-1"}}) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][6:])["type"] == "start"
    thread = httpx.get(f"{base}/api/memory/threads/t-1").json()
    assert thread["resourceId"] == "u-1" and thread["title"]
    missing = httpx.get(f"{base}/api/memory/threads/nope")
    assert missing.status_code == 404 and missing.json() == {"error": "Thread not found"}
    assert httpx.get(f"{base}/api/openapi.json").json()["info"]["title"] == "Stowage API"
