"""Auth modes: IAM trusts the caller; JWT makes the token's ``sub`` the only resource."""

from __future__ import annotations

import functools
import json
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agents import App
from handlers import _wiring
from storage.records import Message, Thread
from tests.handlers.conftest import Call, Reply

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST"
AUDIENCE = "client-123"
SECRET = "test-secret-that-is-long-enough-for-hs256"


def token(sub: str, *, key: Any = SECRET, alg: str = "HS256", kid: str | None = None,
          **claims: Any) -> str:
    body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600,
            "token_use": "id", **claims}
    headers = {"kid": kid} if kid else None
    return jwt.encode(body, key, algorithm=alg, headers=headers)


@pytest.fixture
def jwt_api(api: Call, monkeypatch: pytest.MonkeyPatch) -> Call:
    monkeypatch.setenv("STOWAGE_AUTH", "jwt")
    monkeypatch.setenv("STOWAGE_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("STOWAGE_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("STOWAGE_JWT_SECRET", SECRET)
    _wiring.settings.cache_clear()
    return api


def as_user(api: Call, sub: str) -> Any:
    def send(method: str, path: str, **kwargs: Any) -> Reply:
        headers = {"Authorization": f"Bearer {token(sub)}", **kwargs.pop("headers", {})}
        return api(method, path, headers=headers, **kwargs)

    return send


@pytest.fixture
def alice_thread(app: App) -> Thread:
    thread = app.storage.memory.save_thread(Thread(id="t-a", resource_id="alice", title="A's"))
    app.storage.memory.save_messages([Message(
        id="m-a", thread_id="t-a", role="user",
        content={"format": 2, "parts": [{"type": "text", "text": "secret"}]})])
    app.storage.memory.update_resource("alice", working_memory="# alice")
    return thread


def test_iam_mode_trusts_the_caller(api: Call, alice_thread: Thread) -> None:
    assert api("GET", "/api/memory/threads/t-a").status == 200


@pytest.mark.parametrize("bad", [
    None,
    "Bearer not-a-jwt",
    f"Bearer {token('bob', key='another-secret-of-sufficient-length!!')}",
    f"Bearer {token('bob', iss='https://evil.example')}",
    f"Bearer {token('bob', aud='other-client')}",
    f"Bearer {token('bob', exp=int(time.time()) - 10)}",
    f"Bearer {jwt.encode({'iss': ISSUER, 'aud': AUDIENCE, 'exp': int(time.time()) + 60}, SECRET)}",
])
def test_jwt_mode_refuses_missing_or_invalid_tokens(jwt_api: Call, bad: str | None) -> None:
    headers = {"Authorization": bad} if bad else {}
    reply = jwt_api("GET", "/api/memory/threads", headers=headers)
    assert reply.status == 401 and "error" in reply.body


def test_another_tenants_thread_is_404_everywhere(jwt_api: Call, app: App,
                                                  alice_thread: Thread) -> None:
    bob = as_user(jwt_api, "bob")
    before = (app.storage.memory.get_thread("t-a"),
              app.storage.memory.list_messages("t-a").items,
              app.storage.memory.get_resource("alice"))
    attempts = [
        bob("GET", "/api/memory/threads/t-a"),
        bob("PATCH", "/api/memory/threads/t-a", body={"title": "mine now"}),
        bob("DELETE", "/api/memory/threads/t-a"),
        bob("GET", "/api/memory/threads/t-a/messages"),
        bob("POST", "/api/memory/threads/t-a/working-memory", body={"workingMemory": "x"}),
        bob("POST", "/api/agents/assistant/generate",
            body={"messages": "hi", "memory": {"thread": "t-a", "resource": "alice"}}),
        bob("POST", "/api/attachments", body={"contentType": "image/png", "threadId": "t-a"}),
    ]
    assert [r.status for r in attempts] == [404] * len(attempts)
    assert all(r.body == {"error": "Thread not found"} for r in attempts)
    after = (app.storage.memory.get_thread("t-a"),
             app.storage.memory.list_messages("t-a").items,
             app.storage.memory.get_resource("alice"))
    assert after == before
    # Reading working memory through her thread answers as through a missing one
    # (Bob's own working memory, no thread): nothing says the thread exists.
    foreign = bob("GET", "/api/memory/threads/t-a/working-memory", query={"agentId": "assistant"})
    missing = bob("GET", "/api/memory/threads/nope/working-memory",
                  query={"agentId": "assistant"})
    assert foreign.status == missing.status == 200
    assert foreign.body == missing.body and foreign.body["threadExists"] is False
    assert foreign.body["workingMemory"] != "# alice"
    # The owner still sees it
    alice = as_user(jwt_api, "alice")
    assert alice("GET", "/api/memory/threads/t-a").body["title"] == "A's"


def test_jwt_lists_and_creates_only_the_callers_resource(jwt_api: Call, app: App,
                                                          alice_thread: Thread) -> None:
    bob = as_user(jwt_api, "bob")
    created = bob("POST", "/api/memory/threads", body={"resourceId": "alice", "threadId": "t-b"})
    assert created.status == 200 and created.body["resourceId"] == "bob"
    listed = bob("GET", "/api/memory/threads", query={"resourceId": "alice"})
    assert [t["id"] for t in listed.body["threads"]] == ["t-b"]
    everything = bob("GET", "/api/memory/threads")
    assert [t["id"] for t in everything.body["threads"]] == ["t-b"]


def test_generate_forces_the_resource_to_the_subject(jwt_api: Call, app: App) -> None:
    bob = as_user(jwt_api, "bob")
    reply = bob("POST", "/api/agents/assistant/generate",
                body={"messages": "hello", "memory": {"thread": "t-new", "resource": "alice"}})
    assert reply.status == 200 and reply.body["resourceId"] == "bob"
    assert app.storage.memory.get_thread("t-new").resource_id == "bob"
    traces = bob("GET", "/api/observability/traces", query={"resourceId": "alice"})
    assert [s["resourceId"] for s in traces.body["spans"]] == ["bob"]
    alice = as_user(jwt_api, "alice")
    trace_id = reply.body["traceId"]
    assert alice("GET", f"/api/observability/traces/{trace_id}").status == 404
    assert bob("GET", f"/api/observability/traces/{trace_id}").status == 200


def test_rs256_through_a_jwks_document_and_access_tokens(api: Call, alice_thread: Thread,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a Cognito-like JWKS document served over HTTP
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps(
        {"keys": [{**public_jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("STOWAGE_AUTH", "jwt")
    monkeypatch.setenv("STOWAGE_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("STOWAGE_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("STOWAGE_JWT_JWKS_URL",
                       f"http://127.0.0.1:{server.server_address[1]}/jwks.json")
    _wiring.settings.cache_clear()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # An access token names the app client in client_id, not aud
    access = jwt.encode({"sub": "alice", "iss": ISSUER, "client_id": AUDIENCE,
                         "token_use": "access", "exp": int(time.time()) + 600},
                        pem, algorithm="RS256", headers={"kid": "k1"})
    try:
        ok = api("GET", "/api/memory/threads/t-a",
                 headers={"Authorization": f"Bearer {access}"})
        assert ok.status == 200
        forged = token("alice", key=SECRET, alg="HS256", kid="k1")
        assert api("GET", "/api/memory/threads/t-a",
                   headers={"Authorization": f"Bearer {forged}"}).status == 401
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_tenant_cannot_reference_another_tenants_blob(jwt_api: Call, app: App) -> None:
    uri = app.storage.blobs.put("attachments/alice/t-a/abc", b"alice's", content_type="text/plain")
    bob = as_user(jwt_api, "bob")
    stolen = bob("POST", "/api/agents/assistant/generate", body={
        "messages": [{"role": "user", "content": "read",
                      "experimental_attachments": [{"name": "x", "contentType": "text/plain",
                                                    "url": uri}]}],
        "memory": {"thread": "t-b", "resource": "bob"}})
    assert stolen.status == 403
    assert app.storage.memory.get_thread("t-b") is None
    alice = as_user(jwt_api, "alice")
    own = alice("POST", "/api/agents/assistant/generate", body={
        "messages": [{"role": "user", "content": "read",
                      "experimental_attachments": [{"name": "x", "contentType": "text/plain",
                                                    "url": uri}]}]})
    assert own.status == 200
