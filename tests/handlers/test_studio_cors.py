"""CORS (api handler, stream app, dev server) and the client's run id, for Mastra Studio.

Studio runs on another origin and sends ``credentials: 'include'``: the allowed
origin must be reflected with ``Access-Control-Allow-Credentials: true`` and
``Vary: Origin``, and preflights must pass before auth and the body checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents import App
from handlers import _wiring
from handlers.cors import DEFAULT_ORIGINS, CorsPolicy, parse_origins
from handlers.local import app as local_app
from handlers.stream import app as stream_app
from tests.handlers.conftest import Call
from tests.handlers.servers import free_port, serve
from tests.handlers.test_auth import jwt_api  # noqa: F401 (fixture)

STUDIO = "http://localhost:3000"
PREFLIGHT = {"Origin": STUDIO, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type, x-mastra-client-type, x-custom"}


# --- the policy ---------------------------------------------------------------------


def test_default_allow_list_is_every_local_port() -> None:
    policy = CorsPolicy(parse_origins(None))
    assert policy.origins == DEFAULT_ORIGINS
    for origin in ("http://localhost:3000", "http://127.0.0.1:4111", "http://[::1]:3000",
                   "http://localhost"):
        assert policy.allows(origin), origin
    for origin in ("https://localhost:3000", "http://localhost.evil.com:3000",
                   "http://evil.com", "http://127.0.0.1.nip.io:3000", "null", ""):
        assert not policy.allows(origin), origin


def test_configured_origins_and_wildcards() -> None:
    policy = CorsPolicy(parse_origins("https://studio.example.com, https://*.corp.example/"))
    assert policy.allows("https://studio.example.com")
    assert policy.allows("https://a.b.corp.example")
    assert not policy.allows("https://corp.example")
    assert not policy.allows("https://studio.example.com.evil.com")
    assert not policy.allows("http://studio.example.com")
    assert not policy.allows("http://localhost:3000")
    assert parse_origins("none") == ()
    assert CorsPolicy(()).headers(STUDIO) == {}


@pytest.mark.parametrize("bad", ["*", "localhost:3000", "ftp://x", "https://a.com/path",
                                 "https://a.com, *"])
def test_bad_allow_lists_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="STOWAGE_CORS_ORIGINS"):
        _wiring.Settings.from_env({"STOWAGE_CORS_ORIGINS": bad})


def test_preflight_reflects_only_well_formed_requested_headers() -> None:
    headers = CorsPolicy().preflight(STUDIO, "x-ok, bad header, x-mastra-client-type")
    allowed = [h.strip() for h in headers["Access-Control-Allow-Headers"].split(",")]
    assert "x-ok" in allowed and "bad header" not in allowed
    assert allowed.count("x-mastra-client-type") == 1


# --- the api Lambda handler ---------------------------------------------------------


def test_api_preflight_passes_before_auth_and_body_checks(jwt_api: Call) -> None:  # noqa: F811
    reply = jwt_api("OPTIONS", "/api/memory/threads", headers={
        **PREFLIGHT, "Content-Type": "text/plain"}, raw="not json at all")
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == STUDIO
    assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    assert reply.headers["Vary"] == "Origin"
    assert "POST" in reply.headers["Access-Control-Allow-Methods"]
    assert "x-custom" in reply.headers["Access-Control-Allow-Headers"]


def test_api_answers_carry_cors_headers_even_errors(jwt_api: Call) -> None:  # noqa: F811
    refused = jwt_api("GET", "/api/memory/threads", headers={"Origin": STUDIO})
    assert refused.status == 401 and refused.headers["Access-Control-Allow-Origin"] == STUDIO
    capabilities = jwt_api("GET", "/api/auth/capabilities", headers={"Origin": STUDIO})
    assert capabilities.status == 200
    assert capabilities.headers["Access-Control-Allow-Credentials"] == "true"


def test_api_other_origins_get_no_allow_origin(api: Call) -> None:
    preflight = api("OPTIONS", "/api/agents", headers={**PREFLIGHT, "Origin": "https://evil.com"})
    assert preflight.status == 204
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.headers["Vary"] == "Origin"
    plain = api("GET", "/api/agents", headers={"Origin": "https://evil.com"})
    assert plain.status == 200 and "Access-Control-Allow-Origin" not in plain.headers


def test_api_allow_list_from_the_environment(api: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOWAGE_CORS_ORIGINS", "https://studio.example.com")
    _wiring.settings.cache_clear()
    ok = api("GET", "/api/agents", headers={"Origin": "https://studio.example.com"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://studio.example.com"
    local = api("GET", "/api/agents", headers={"Origin": STUDIO})
    assert "Access-Control-Allow-Origin" not in local.headers


# --- the stream function and the dev server over HTTP -------------------------------


@pytest.fixture
def stream_base(app: App) -> Iterator[str]:
    with serve(stream_app) as base:
        yield base


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.split("\n\n")
            if line.startswith("data: {")]


def test_stream_preflight_and_response_headers(stream_base: str, app: App,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOWAGE_AUTH", "jwt")
    monkeypatch.setenv("STOWAGE_JWT_ISSUER", "https://issuer.example")
    monkeypatch.setenv("STOWAGE_JWT_SECRET", "x" * 32)
    _wiring.settings.cache_clear()
    url = f"{stream_base}/api/agents/assistant/stream"
    preflight = httpx.options(url, headers=PREFLIGHT)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == STUDIO
    assert preflight.headers["access-control-allow-credentials"] == "true"
    refused = httpx.post(url, json={"messages": "hi"}, headers={"Origin": STUDIO})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == STUDIO


def test_stream_honours_the_clients_run_id(stream_base: str, app: App) -> None:
    run_id = "461d8abb-1e10-4777-a958-bd68641d91bd"
    reply = httpx.post(f"{stream_base}/api/agents/assistant/stream", headers={"Origin": STUDIO},
                       json={"messages": "hi", "runId": run_id,
                             "memory": {"thread": "t-1", "resource": "u-1"}})
    assert reply.status_code == 200
    assert reply.headers["x-mastra-run-id"] == run_id
    assert reply.headers["access-control-allow-origin"] == STUDIO
    events = _events(reply.text)
    assert events and {e["runId"] for e in events} == {run_id}
    assert app.storage.workflows.get_run(run_id).status == "success"
    # A run id already used is refused: reusing it would overwrite that run's record.
    again = httpx.post(f"{stream_base}/api/agents/assistant/stream",
                       json={"messages": "hi", "runId": run_id})
    assert again.status_code == 409 and "already used" in again.json()["error"]


@pytest.mark.parametrize("bad", ["", "a b", "../x", "x\ny", "-leading", "x" * 129, 42])
def test_bad_run_ids_are_400(stream_base: str, api: Call, bad: Any) -> None:
    reply = httpx.post(f"{stream_base}/api/agents/assistant/stream",
                       json={"messages": "hi", "runId": bad})
    assert reply.status_code == 400 and "runId" in reply.json()["error"]
    generated = api("POST", "/api/agents/assistant/generate", body={"messages": "hi",
                                                                   "runId": bad})
    assert generated.status == 400 and "runId" in generated.body["error"]


def test_generate_honours_the_run_id(api: Call, app: App) -> None:
    reply = api("POST", "/api/agents/assistant/generate", body={"messages": "hi",
                                                               "runId": "studio-run.1"})
    assert reply.status == 200 and reply.body["runId"] == "studio-run.1"
    assert api("POST", "/api/agents/assistant/generate",
               body={"messages": "hi", "runId": "studio-run.1"}).status == 409


@pytest.fixture
def dev_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("STOWAGE_STORAGE_URL", f"sqlite:///{tmp_path}/stowage.db")
    monkeypatch.setenv("STOWAGE_BLOBS_URL", f"file:///{tmp_path}/blobs")
    monkeypatch.setenv("STOWAGE_JOBS", "inline")
    _wiring.reset()
    with serve(local_app, free_port()) as url:
        yield url


def test_dev_server_root_preflight_and_capabilities(dev_base: str) -> None:
    root = httpx.get(f"{dev_base}/", headers={"Origin": STUDIO})
    assert root.status_code == 200 and root.json()["api"] == "/api"
    assert root.headers["access-control-allow-origin"] == STUDIO
    for path in ("/api/agents/assistant/stream", "/api/memory/threads", "/api/blobs/x"):
        preflight = httpx.options(f"{dev_base}{path}", headers=PREFLIGHT)
        assert preflight.status_code == 204, path
        assert preflight.headers["access-control-allow-origin"] == STUDIO
        assert preflight.headers["vary"] == "Origin"
    capabilities = httpx.get(f"{dev_base}/api/auth/capabilities", headers={"Origin": STUDIO})
    assert capabilities.json() == {"enabled": False, "login": None}
    # One header each, not two (the api handler and the middleware both set them).
    assert capabilities.headers.get_list("access-control-allow-origin") == [STUDIO]
    stream = httpx.post(f"{dev_base}/api/agents/assistant/stream", headers={"Origin": STUDIO},
                        json={"messages": "hi"})
    assert stream.headers["access-control-allow-origin"] == STUDIO
    assert _events(stream.text)[-1]["type"] == "finish"
