"""A local SigV4 signing proxy: Mastra Studio (or any browser client) against an IAM stack.

A browser cannot sign requests with SigV4, and a deployed stack with ``auth=iam``
refuses anything unsigned. This proxy listens on localhost, answers CORS itself
(:mod:`handlers.cors`), signs each request with your AWS credentials (botocore's
``SigV4Auth``, service ``execute-api``, the default credential chain: environment,
profile, SSO) and forwards it to the deployed API, streaming the answer back, so
``POST /api/agents/{id}/stream`` still arrives chunk by chunk::

    python -m handlers.signing_proxy https://abc123.execute-api.eu-west-1.amazonaws.com/dev/
    npx mastra@1.31.0 studio -s 4111          # Studio on :3000, the proxy on :4111

Only the request line, the body and the content headers are forwarded (the browser's
cookies and ``Authorization`` never leave the machine). It binds 127.0.0.1 by
default: anyone who can reach it acts with your credentials.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from handlers.cors import CORSMiddleware

log = logging.getLogger(__name__)

FORWARDED_HEADERS = ("content-type", "accept", "x-mastra-client-type")
RETURNED_HEADERS = ("content-type", "cache-control", "x-mastra-run-id")
_REGION = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


def region_of(url: str) -> str | None:
    """The region in an ``execute-api`` URL, if it has one."""
    found = _REGION.search(url)
    return found.group(1) if found else None


def signed_headers(method: str, url: str, body: bytes, headers: dict[str, str],
                   region: str, credentials: Any) -> dict[str, str]:
    """``headers`` plus SigV4's (``Authorization``, ``X-Amz-Date``, the session token)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def build_app(target: str, region: str, credentials: Any, client: Any = None) -> Starlette:
    """The proxy as an ASGI app forwarding to ``target`` (an API stage URL).

    Args:
        client: an ``httpx.AsyncClient`` (tests pass one bound to a local app).
    """
    import httpx

    base = target.rstrip("/")
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=900.0))

    async def forward(request: Request) -> Response:
        if request.url.path == "/" and request.method == "GET":
            # Studio probes the server root; API Gateway may not route the stage root.
            return JSONResponse({"name": "Stowage signing proxy", "target": base})
        url = f"{base}{request.url.path}"
        if request.url.query:
            url = f"{url}?{request.url.query}"
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}
        frozen = credentials.get_frozen_credentials()
        signed = signed_headers(request.method, url, body, headers, region, frozen)
        upstream = await http.send(
            http.build_request(request.method, url, content=body, headers=signed), stream=True)

        async def relay() -> AsyncIterator[bytes]:
            async for piece in upstream.aiter_raw():
                yield piece

        kept = {k: v for k, v in upstream.headers.items() if k.lower() in RETURNED_HEADERS}
        return StreamingResponse(relay(), status_code=upstream.status_code, headers=kept,
                                 background=BackgroundTask(upstream.aclose))

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)],
                     middleware=[Middleware(CORSMiddleware)])


def main(argv: list[str] | None = None) -> None:
    """``python -m handlers.signing_proxy <ApiUrl> [--port 4111] [--region r]``."""
    import boto3
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="the stack's ApiUrl (https://...execute-api...)")
    parser.add_argument("--port", type=int, default=4111)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--region", default=None, help="default: from the URL")
    args = parser.parse_args(argv)
    session = boto3.Session()
    region = args.region or region_of(args.target) or session.region_name
    credentials = session.get_credentials()
    if not region or credentials is None:
        parser.error("need AWS credentials and a region (from the URL, --region or AWS_REGION)")
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Signing proxy on http://{args.host}:{args.port} -> {args.target} ({region})",
          flush=True)
    uvicorn.run(build_app(args.target, region, credentials), host=args.host, port=args.port,
                log_level="info", access_log=False)


if __name__ == "__main__":
    main()
