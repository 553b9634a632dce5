"""The local SigV4 signing proxy (Studio against an IAM stack): signs, forwards, streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from handlers.signing_proxy import build_app, region_of
from tests.handlers.servers import serve

STUDIO = "http://localhost:3000"


class _Frozen:
    def __init__(self) -> None:
        self.creds = Credentials("AKIDEXAMPLE", "secret", "session-token")

    def get_frozen_credentials(self) -> Any:
        return self.creds.get_frozen_credentials()


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def echo(request: Request) -> Response:
        body = await request.body()
        seen.append({"method": request.method, "path": request.url.path,
                     "query": request.url.query, "headers": dict(request.headers),
                     "body": body})
        if request.url.path.endswith("/stream"):
            async def chunks() -> AsyncIterator[bytes]:
                for word in ("one", "two"):
                    yield f"data: {word}\n\n".encode()
                    await asyncio.sleep(0)
            return StreamingResponse(chunks(), media_type="text/event-stream",
                                     headers={"x-mastra-run-id": "r-1", "set-cookie": "a=b"})
        return JSONResponse({"ok": True}, status_code=201)

    app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "DELETE"])])
    with serve(app) as base:
        yield base + "/dev/", seen


@pytest.fixture
def proxy(upstream: tuple[str, list[dict[str, Any]]]) -> Iterator[str]:
    with serve(build_app(upstream[0], "eu-west-1", _Frozen())) as base:
        yield base


def test_requests_are_signed_and_forwarded(proxy: str,
                                           upstream: tuple[str, list[dict[str, Any]]]) -> None:
    reply = httpx.post(f"{proxy}/api/memory/threads?agentId=a", json={"resourceId": "u"},
                       headers={"Origin": STUDIO, "Authorization": "Bearer browser-token",
                                "Cookie": "session=x"})
    assert reply.status_code == 201 and reply.json() == {"ok": True}
    assert reply.headers["access-control-allow-origin"] == STUDIO
    sent = upstream[1][-1]
    assert (sent["method"], sent["path"], sent["query"]) == ("POST", "/dev/api/memory/threads",
                                                             "agentId=a")
    auth = sent["headers"]["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in auth and "SignedHeaders=" in auth
    assert sent["headers"]["x-amz-security-token"] == "session-token"
    assert sent["headers"]["x-amz-date"]
    assert "cookie" not in sent["headers"] and "browser-token" not in auth
    assert sent["body"] == b'{"resourceId":"u"}'


def test_streams_are_relayed_and_preflights_answered_locally(
        proxy: str, upstream: tuple[str, list[dict[str, Any]]]) -> None:
    with httpx.stream("POST", f"{proxy}/api/agents/a/stream", json={"messages": "hi"}) as reply:
        assert reply.headers["x-mastra-run-id"] == "r-1" and "set-cookie" not in reply.headers
        assert b"".join(reply.iter_raw()) == b"data: one\n\ndata: two\n\n"
    count = len(upstream[1])
    preflight = httpx.options(f"{proxy}/api/agents", headers={
        "Origin": STUDIO, "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204 and len(upstream[1]) == count
    assert httpx.get(f"{proxy}/").status_code == 200 and len(upstream[1]) == count


def test_region_of_an_api_url() -> None:
    assert region_of("https://abc.execute-api.eu-west-1.amazonaws.com/dev/") == "eu-west-1"
    assert region_of("http://127.0.0.1:4111") is None
