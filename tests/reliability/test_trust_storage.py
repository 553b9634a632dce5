"""Issue 11, the storage findings, driven through the HTTP API as an attacker would.

Two tenants, Alice and Bob, in both auth modes: IAM (the caller names its resource)
and JWT (the token's subject is the resource). The API is the api Lambda handler fed
API Gateway REST events (``tests/handlers/conftest.call_api``); the stream route is
the stream app. Every backend is the conformance suite's: the embedded default
(SQLite + a blob folder), DynamoDB + S3 under moto, ``memory://``, and PostgreSQL
directly and through the Data API fake.

* item 3: ``include`` never returns another tenant's messages;
* item 4: no spelling of another tenant's blob URI reaches the model or comes back
  as a signed download URL, on the file, S3 and memory blob stores;
* item 8: a page past any list is a 400 on every paged route and backend;
* item 12: a big working memory or thread metadata gets one verdict whatever the
  route (stored, offloaded to the blob store on DynamoDB + S3; 413 without one).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
import pytest

from agents import Agent, App, InlineJobRunner
from agents.models.base import FilePart
from agents.models.scripted import ScriptedModel
from handlers import _wiring
from storage.blob_uris import attachment_key_of
from storage.errors import ValidationError
from storage.keys import attachment_key
from storage.validation import MAX_OFFSET
from tests.handlers.conftest import Reply, call_api
from tests.reliability.support import backend, open_backend
from tests.storage.blob_tricks import dressed_up

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TRUST"
AUDIENCE = "trust-client"
SECRET = "a-test-secret-long-enough-for-hs256-signing"
MODES = ("iam", "jwt")
EVERY_BACKEND = ("sqlite+files", "dynamodb+s3", "memory", "postgres", "data-api")
BLOB_BACKENDS = ("sqlite+files", "dynamodb+s3", "memory")  # file://, s3://, memory://blobs/
HUGE = "99999999999999999999"
BOB_BYTES = b"bob's bank statement: 1234 5678"
ALICE_BYTES = b"alice's own holiday plan"


def _params(names: tuple[str, ...]) -> list[Any]:
    return [pytest.param(n, m, marks=backend(n).marks, id=f"{n}-{m}")
            for n in names for m in MODES]


@dataclass
class Served:
    """The App being served, its store and its model, in one auth mode."""

    app: App
    store: Any
    model: ScriptedModel
    mode: str

    def tenant(self, name: str) -> Tenant:
        return Tenant(self, name)


@dataclass
class Tenant:
    """One caller: in JWT mode a bearer token for ``name``; in IAM mode its resource."""

    served: Served
    name: str

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if self.served.mode == "jwt":
            claims = {"sub": self.name, "iss": ISSUER, "aud": AUDIENCE,
                      "exp": int(time.time()) + 600, "token_use": "id"}
            headers["Authorization"] = f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"
        reply = call_api(method, path, headers=headers, **kwargs)
        assert reply.status < 500, (method, path, reply.status, reply.body)
        return reply

    def generate(self, messages: Any, thread: str) -> Reply:
        return self.call("POST", "/api/agents/assistant/generate", body={
            "messages": messages, "memory": {"thread": thread, "resource": self.name}})

    def messages(self, thread: str, **query: Any) -> Reply:
        return self.call("GET", f"/api/memory/threads/{thread}/messages",
                         query={"resourceId": self.name, **query})


@contextmanager
def serving(name: str, mode: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    if mode == "jwt":
        monkeypatch.setenv("STOWAGE_AUTH", "jwt")
        monkeypatch.setenv("STOWAGE_JWT_ISSUER", ISSUER)
        monkeypatch.setenv("STOWAGE_JWT_AUDIENCE", AUDIENCE)
        monkeypatch.setenv("STOWAGE_JWT_SECRET", SECRET)
    else:
        monkeypatch.setenv("STOWAGE_AUTH", "iam")
    _wiring.reset()
    with open_backend(name, tmp_path) as store:
        model = ScriptedModel(["noted"])
        app = App(agents=[Agent(id="assistant", model=model)], storage=store,
                  jobs=InlineJobRunner())
        _wiring.use_app(app)
        try:
            yield Served(app, store, model, mode)
        finally:
            _wiring.reset()


# --- item 3: include across tenants --------------------------------------------------------


@pytest.mark.parametrize(("name", "mode"), _params(EVERY_BACKEND))
def test_include_never_returns_another_tenants_messages(
    name: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(name, mode, tmp_path, monkeypatch) as served:
        alice, bob = served.tenant("alice"), served.tenant("bob")
        for i in range(4):
            assert bob.generate(f"bob's secret {i}", "t-bob").status == 200
        assert alice.generate("alice's question", "t-alice").status == 200
        assert alice.generate("alice elsewhere", "t-alice-2").status == 200
        memory = served.store.memory
        bobs = [m.id for m in memory.list_messages("t-bob", per_page=None).items]
        [elsewhere, _] = memory.list_messages("t-alice-2", per_page=None).items
        assert len(bobs) == 8

        # When Alice includes Bob's messages with wide windows, on her own thread
        for per_page in ("40", "0", "false"):
            include = [{"id": i, "withPreviousMessages": 5, "withNextMessages": 5}
                       for i in (bobs[3], bobs[0], bobs[7])]
            reply = alice.messages("t-alice", include=json.dumps(include), perPage=per_page)
            # Then nothing of Bob's comes back
            assert reply.status == 200
            assert {m["resourceId"] for m in reply.body["messages"]} <= {"alice"}
            assert not {m["id"] for m in reply.body["messages"]} & set(bobs)
            assert "bob's secret" not in json.dumps(reply.body)
            assert reply.body["total"] == 2
        # And her own other thread still gives context (the feature works)
        own = alice.messages("t-alice", perPage="0", include=json.dumps(
            [{"id": elsewhere.id, "withNextMessages": 1}]))
        assert [m["id"] for m in own.body["messages"]] == [
            m.id for m in memory.list_messages("t-alice-2").items]
        # Bob's listing is untouched
        assert bob.messages("t-bob").body["total"] == 8


# --- item 4: attachment ownership ----------------------------------------------------------


def _message(position: str, ref: str) -> dict[str, Any]:
    if position == "text":
        return {"role": "user", "content": [{"type": "text", "text": ref}]}
    if position == "file":
        return {"role": "user", "content": [
            {"type": "text", "text": "read the file"},
            {"type": "file", "data": ref, "mimeType": "text/plain", "filename": "x.txt"}]}
    if position == "attachment":
        return {"role": "user", "content": "read the attachment", "experimental_attachments": [
            {"name": "x.txt", "contentType": "text/plain", "url": ref}]}
    assert position == "format2"
    return {"role": "user", "content": {"format": 2, "parts": [
        {"type": "text", "text": "read both"},
        {"type": "file", "data": ref, "mimeType": "text/plain"}],
        "experimental_attachments": [{"name": "y.txt", "contentType": "text/plain", "url": ref}]}}


def _model_saw(model: ScriptedModel) -> tuple[list[bytes], list[str]]:
    """The bytes and the blob URIs of every file any request to the model carried."""
    files: list[bytes] = []
    uris: list[str] = []
    for request in model.requests:
        for message in request.messages:
            for part in message.parts:
                if isinstance(part, FilePart):
                    files.append(part.data or b"")
                    uris.append(part.uri or "")
    return files, uris


def _alices(blobs: Any, uri: str) -> bool:
    try:
        attachment_key_of(blobs, uri, "alice")
    except ValidationError:
        return False
    return True


def _links(body: Any) -> list[str]:
    """Every download link in a JSON body (http(s) URLs, data: URLs decoded)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            if value.startswith(("http://", "https://")):
                found.append(unquote(value))
            elif value.startswith("data:") and ";base64," in value:
                found.append(base64.b64decode(value.split(",", 1)[1]).decode("latin-1"))

    walk(body)
    return found


def _no_link_to_bob(body: Any) -> None:
    for link in _links(body):
        assert "attachments/bob/" not in link and BOB_BYTES.decode() not in link, link


@pytest.mark.parametrize("position", ["text", "file", "attachment", "format2"])
@pytest.mark.parametrize(("name", "mode"), _params(BLOB_BACKENDS))
def test_no_spelling_of_another_tenants_blob_reaches_the_model_or_a_link(
    name: str, mode: str, position: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(name, mode, tmp_path, monkeypatch) as served:
        alice, bob = served.tenant("alice"), served.tenant("bob")
        blobs = served.store.blobs
        # Given Bob's uploaded attachment and Alice's own
        assert bob.generate("my statement is attached", "t-bob").status == 200
        bob_uri = blobs.put(attachment_key("bob", "t-bob", hashlib.sha256(BOB_BYTES).hexdigest()),
                            BOB_BYTES, content_type="text/plain")
        alice_uri = blobs.put(attachment_key("alice", "t-alice", "a" * 64), ALICE_BYTES,
                              content_type="text/plain")
        # When Alice sends every spelling of Bob's URI
        for trick in dressed_up(bob_uri):
            reply = alice.generate([_message(position, trick)], "t-alice")
            # Then it is refused (403; 400 for "file:/x", which is no URI and no base64),
            # unless the store reads it as a key in Alice's own attachments (s3:// and
            # memory:// keys are literal: ".../alice/%2e%2e/bob/..." is Alice's, and absent)
            if position != "text":
                if _alices(blobs, trick):
                    assert reply.status == 200, (trick, reply.body)
                else:
                    assert reply.status in (400, 403), (trick, reply.body)
            assert reply.status in (200, 400, 403), (trick, reply.body)
            # and the answer holds no link to Bob's blob
            _no_link_to_bob(reply.body)
        # and the model never got his bytes, nor a reference it could fetch them by
        files, uris = _model_saw(served.model)
        assert BOB_BYTES not in files
        assert not [u for u in uris if "/bob/" in u]  # Bedrock would fetch an s3Location
        # and her stored messages render no link to it either
        listed = alice.messages("t-alice", perPage="false")
        assert listed.status in (200, 404)
        _no_link_to_bob(listed.body)
        # Bob's own reference to his blob still works (the check is not a blanket refusal)
        if position != "text":
            own = bob.generate([_message(position, bob_uri)], "t-bob")
            assert own.status == 200
            assert BOB_BYTES in _model_saw(served.model)[0]
            assert any("attachments/bob/" in link or BOB_BYTES.decode() in link
                       for link in _links(bob.messages("t-bob", perPage="false").body))
        # and so does Alice's reference to her own
        mine = alice.generate([_message(position, alice_uri)], "t-alice")
        assert mine.status == 200
        if position != "text":
            assert ALICE_BYTES in _model_saw(served.model)[0]


@pytest.mark.parametrize(("name", "mode"), _params(BLOB_BACKENDS))
def test_the_stream_route_refuses_another_tenants_blob_before_running(
    name: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    from handlers.stream import app as stream_app
    from tests.handlers.servers import serve

    with serving(name, mode, tmp_path, monkeypatch) as served:
        bob_uri = served.store.blobs.put(attachment_key("bob", "t-bob", "b" * 64), BOB_BYTES)
        headers = {"content-type": "application/json"}
        if mode == "jwt":
            claims = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE,
                      "exp": int(time.time()) + 600, "token_use": "id"}
            headers["authorization"] = f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"
        with serve(stream_app) as base:
            for trick in dressed_up(bob_uri)[:6]:
                body = {"messages": [_message("attachment", trick)],
                        "memory": {"thread": "t-alice", "resource": "alice"}}
                reply = httpx.post(f"{base}/api/agents/assistant/stream", json=body,
                                   headers=headers, timeout=30)
                assert reply.status_code == 403, (trick, reply.text)
                assert "error" in reply.json()
        assert served.model.requests == []
        assert served.store.memory.get_thread("t-alice") is None


# --- item 8: pages past any list -----------------------------------------------------------


@pytest.mark.parametrize(("name", "mode"), _params(EVERY_BACKEND))
def test_a_page_past_any_list_is_a_400_on_every_paged_route(
    name: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(name, mode, tmp_path, monkeypatch) as served:
        alice = served.tenant("alice")
        assert alice.generate("hello", "t-alice").status == 200
        routes = [
            "/api/memory/threads",
            "/api/memory/threads/t-alice/messages",
            "/api/workflows/agent:assistant/runs",
            "/api/observability/traces",
            "/api/scores/run/r-1",
            "/api/scores/scorer/s-1",
            "/api/scores/entity/AGENT/assistant",
        ]
        too_far = [{"page": HUGE}, {"page": HUGE, "perPage": "false"}, {"page": str(10**15)},
                   {"page": str(MAX_OFFSET // 1000 + 1), "perPage": "1000"},
                   {"page": str(10**30), "perPage": "0"}]
        for route in routes:
            for query in too_far:
                reply = alice.call("GET", route, query={"resourceId": "alice", **query})
                assert reply.status == 400, (route, query, reply.body)
                assert "page" in reply.body["error"]
            # the last page that exists still answers
            ok = alice.call("GET", route, query={"resourceId": "alice", "page": "3",
                                                 "perPage": "1000"})
            assert ok.status == 200, (route, ok.body)
        for size, named in ((10**15, "with_previous"), (int(HUGE), "include")):
            window = json.dumps([{"id": "m", "withPreviousMessages": size}])
            reply = alice.messages("t-alice", include=window)
            assert reply.status == 400 and named in reply.body["error"], reply.body


# --- item 12: one verdict for big documents, whatever the route ----------------------------


@pytest.mark.parametrize(("name", "mode"), _params((*EVERY_BACKEND, "dynamodb")))
def test_big_working_memory_and_metadata_get_one_verdict_on_every_route(
    name: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(name, mode, tmp_path, monkeypatch) as served:
        alice = served.tenant("alice")
        overflows = backend(name).has("overflow")
        notes = "# notes\n" + "n" * 545_000
        big = {"big": "m" * 500_000}
        created = alice.call("POST", "/api/memory/threads",
                             body={"resourceId": "alice", "threadId": "t-1", "metadata": big})
        assert alice.call("POST", "/api/memory/threads", body={
            "resourceId": "alice", "threadId": "t-2", "metadata": {"a": 1}}).status == 200
        patched = alice.call("PATCH", "/api/memory/threads/t-2", body={"metadata": big})
        titled = alice.call("PATCH", "/api/memory/threads/t-2", body={"title": "t" * 500_000})
        wm = alice.call("POST", "/api/memory/threads/t-2/working-memory",
                        body={"workingMemory": notes, "resourceId": "alice"})
        got = alice.call("GET", "/api/memory/threads/t-2/working-memory",
                         query={"resourceId": "alice"})
        thread = alice.call("GET", "/api/memory/threads/t-2").body
        if overflows:
            assert (created.status, patched.status, titled.status, wm.status) == (200,) * 4
            assert alice.call("GET", "/api/memory/threads/t-1").body["metadata"] == big
            assert thread["metadata"] == {"a": 1, **big}
            assert thread["title"] == "t" * 500_000
            assert got.body["workingMemory"] == notes
        else:
            assert (created.status, patched.status, titled.status, wm.status) == (413,) * 4
            assert "metadata" in created.body["error"] and "metadata" in patched.body["error"]
            assert "title" in titled.body["error"] and "metadata" not in titled.body["error"]
            assert alice.call("GET", "/api/memory/threads/t-1").status == 404
            assert (thread["metadata"], thread["title"]) == ({"a": 1}, None)
            assert got.body["workingMemory"] is None
