"""``make dev``: every route of DESIGN §4 on http://127.0.0.1:4111, run by the Lambda code.

One Starlette app, behind :class:`handlers.cors.CORSMiddleware` (so Mastra Studio on
another origin can call it; ``GET /`` answers too, as Studio probes it): the stream
route is :mod:`handlers.stream`'s endpoint (as under the Lambda Web Adapter); every
other ``/api`` request becomes the API Gateway REST proxy event the deployed API
would send and goes through :func:`handlers.api.handler` with its Powertools
decorators. Two routes exist only here: ``GET /api/blobs/<key>`` serves ``file://``
blobs behind the signed URLs the file store hands out, and
``POST /api/attachments/upload/<key>`` takes the uploads ``POST /api/attachments``
grants on the local store.

Storage is ``storage.from_env()`` (the embedded default: ``.stowage/`` under the
project root) and the model ``local/echo`` unless ``STOWAGE_MODEL`` names another.
``STOWAGE_HOST`` / ``STOWAGE_PORT`` move the server. With a retention
(``STOWAGE_RETENTION``), the server prunes at start and then every
``STOWAGE_PRUNE_INTERVAL`` seconds (default 3600; ``0`` turns it off), in a thread,
as the deployed stack's schedule does.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from handlers._wiring import Settings, get_app, settings
from handlers.cors import CORSMiddleware
from handlers.events import LocalContext, rest_event
from handlers.stream import stream_agent
from handlers.uploads import verify_local_upload
from storage.lifecycle.retention import Retention

log = logging.getLogger(__name__)

DEFAULT_PRUNE_INTERVAL_S = 3600.0
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4111
# Powertools' resolver keeps the current event on a class attribute, and a Lambda
# environment serves one request at a time: the dev server does the same for the api.
_API_LOCK = threading.Lock()
# Downloads are inert: no script, no plugin, no fetch, a sandboxed document.
BLOB_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def api_proxy(request: Request) -> Response:
    """Any ``/api`` request but the stream: through the api Lambda handler."""
    from handlers.api import handler

    limit = settings().max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return _error(413, f"request body of {declared} bytes is over the {limit}-byte limit")
    body = await request.body()
    event = rest_event(
        request.method,
        request.url.path,
        body=body or None,
        query=request.url.query,
        headers=dict(request.headers),
        source_ip=request.client.host if request.client else "127.0.0.1",
    )

    def call() -> dict[str, Any]:
        with _API_LOCK:
            result: dict[str, Any] = handler(event, LocalContext())
            return result

    result = await asyncio.to_thread(call)
    headers: dict[str, str] = {}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(values)
    headers.update(result.get("headers") or {})
    headers.pop("Content-Length", None)
    payload = result.get("body") or ""
    if result.get("isBase64Encoded"):
        import base64

        content: bytes = base64.b64decode(payload)
    else:
        content = payload.encode("utf-8")
    return Response(content, status_code=int(result["statusCode"]), headers=headers)


class _AnyMethod:
    """:func:`api_proxy` as a raw ASGI app: Starlette then routes every method to it
    (a plain function endpoint would answer 405 text for methods it does not list)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        response = await api_proxy(Request(scope, receive))
        await response(scope, receive, send)


def _file_blobs() -> Any:
    blobs = getattr(get_app().storage, "blobs", None)
    if blobs is None or not callable(getattr(blobs, "verify_signature", None)):
        return None
    return blobs


async def download_blob(request: Request) -> Response:
    """A ``file://`` blob, if the URL's signature is valid and not expired."""
    blobs = _file_blobs()
    if blobs is None:
        return _error(404, "no local blob store")
    key = request.path_params["key"]
    expires = request.query_params.get("expires", "")
    signature = request.query_params.get("signature", "")
    if not blobs.verify_signature(key, expires, signature):
        return _error(403, "invalid or expired signature")
    from storage.errors import StorageError

    try:
        uri = blobs.uri_for(key)
        reader = blobs.open(uri)
        content_type = blobs.content_type(uri) or "application/octet-stream"
    except StorageError:
        return _error(404, "blob not found")

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                piece = await asyncio.to_thread(reader.read, 1024 * 1024)
                if not piece:
                    return
                yield piece
        finally:
            reader.close()

    # The blob is whatever a tenant attached (an HTML page, an SVG with a script) and is
    # served from the API's own origin: the browser must neither run it nor guess
    # another type for it, or one tenant's link would run script against the API.
    return StreamingResponse(body(), media_type=content_type, headers={
        "Cache-Control": "private, max-age=300",
        "Content-Security-Policy": BLOB_CSP,
        "X-Content-Type-Options": "nosniff",
    })


async def upload_blob(request: Request) -> Response:
    """Store an upload granted by ``POST /api/attachments`` (a form like S3's, or raw bytes)."""
    blobs = _file_blobs()
    if blobs is None:
        return _error(404, "no local blob store")
    key = request.path_params["key"]
    params = request.query_params
    content_type = params.get("type", "")
    if not verify_local_upload(blobs, key, content_type, params.get("max", ""),
                               params.get("expires", ""), params.get("signature", "")):
        return _error(403, "invalid or expired upload signature")
    limit = int(params["max"])
    declared = request.headers.get("content-length")
    # A multipart envelope adds a little to the file itself.
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        return _error(413, f"upload is over the {limit}-byte limit")
    raw = await request.body()
    sent_type = request.headers.get("content-type", "")
    if sent_type.startswith("multipart/form-data"):
        fields = _form(raw, sent_type)
        data = fields.get("file")
        if data is None:
            return _error(400, "the form has no file field")
        declared_type = fields.get("Content-Type")
        if declared_type is not None and declared_type.decode() != content_type:
            return _error(400, f"Content-Type must be {content_type}")
    else:
        data = raw
        if sent_type.split(";")[0].strip() != content_type:
            return _error(400, f"Content-Type must be {content_type}")
    if not data or len(data) > limit:
        return _error(413 if data else 400, f"upload must be 1 to {limit} bytes")
    await asyncio.to_thread(blobs.put, key, data, content_type=content_type)
    return Response(status_code=204)


def _form(raw: bytes, content_type: str) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (stdlib parser; no extra dependency)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = payload if isinstance(payload, bytes) else b""
    return fields


def prune_interval(env: dict[str, str] | None = None) -> float:
    """``STOWAGE_PRUNE_INTERVAL``: seconds between prunes (``0``: never).

    Raises:
        ValueError: not a number, or negative.
    """
    raw = (os.environ if env is None else env).get("STOWAGE_PRUNE_INTERVAL", "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_PRUNE_INTERVAL_S
    except ValueError:
        raise ValueError(f"STOWAGE_PRUNE_INTERVAL must be seconds, got {raw!r}") from None
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"STOWAGE_PRUNE_INTERVAL must be 0 or more seconds, got {raw!r}")
    return seconds


async def prune_periodically(store: Any, interval: float) -> None:
    """Prune ``store`` now and every ``interval`` seconds until cancelled."""
    while True:
        try:
            receipt = await asyncio.to_thread(store.prune)
            if any(receipt.counts.values()):
                log.info("prune: %s", " ".join(f"{k}={v}" for k, v in receipt.counts.items()))
        except Exception:  # a failed prune is retried next time; the server serves on
            log.exception("prune failed")
        await asyncio.sleep(interval)


def _start_pruning() -> asyncio.Task[None] | None:
    store = get_app().storage
    interval = prune_interval()
    if store is None or not getattr(store, "retention", None) or interval == 0:
        return None  # no retention configured: nothing ever expires
    log.info("prune: every %ss with retention %s", interval, store.retention)
    return asyncio.create_task(prune_periodically(store, interval))


@asynccontextmanager
async def _lifespan(_: Starlette) -> AsyncIterator[None]:
    # Refuse bad settings before serving (uvicorn stops, naming the setting), then
    # build the App before the first request: storage setup, agents import.
    settings()
    await asyncio.to_thread(get_app)
    pruning = _start_pruning()
    try:
        yield
    finally:
        if pruning is not None:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning


async def _http_error(request: Request, exc: Exception) -> Response:
    # Outside /api (or a path Starlette cannot route) still answers JSON, as API Gateway does.
    status = getattr(exc, "status_code", 500)
    return _error(status, "no such route" if status == 404 else str(getattr(exc, "detail", "")))


app = Starlette(
    routes=[
        # The server root: Mastra Studio probes it before anything else (the api answers).
        Route("/", _AnyMethod()),
        Route("/api/agents/{agent_id}/stream", stream_agent, methods=["POST"]),
        Route("/api/blobs/{key:path}", download_blob, methods=["GET"]),
        Route("/api/attachments/upload/{key:path}", upload_blob, methods=["POST"]),
        # Any method: the api handler answers unknown routes and methods with JSON.
        Route("/api/{path:path}", _AnyMethod()),
    ],
    lifespan=_lifespan,
    exception_handlers={404: _http_error, 405: _http_error},
    # CORS for browsers on another origin (Studio on :3000), preflights answered here.
    middleware=[Middleware(CORSMiddleware)],
)


def main() -> None:
    """Serve on ``STOWAGE_HOST:STOWAGE_PORT`` (default 127.0.0.1:4111)."""
    import uvicorn

    try:
        Settings.from_env()
        Retention.from_env(os.environ)  # the store reads it later; refuse it now
        prune_interval()
        host = os.environ.get("STOWAGE_HOST", DEFAULT_HOST)
        port = _port(os.environ.get("STOWAGE_PORT", str(DEFAULT_PORT)))
    except ValueError as exc:
        # A setting the server cannot run with: say which, and do not start.
        print(f"stowage dev server: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    # Signed blob URLs must point at this server; EMF metrics are for CloudWatch only.
    os.environ.setdefault("STOWAGE_PUBLIC_URL", f"http://{host}:{port}")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "stowage-dev")
    logging.basicConfig(level=os.environ.get("STOWAGE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Stowage dev server on http://{host}:{port}/api (OpenAPI: /api/openapi.json)",
          flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def _port(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise ValueError(f"STOWAGE_PORT must be a TCP port (1-65535), got {raw!r}")
    return int(raw)


if __name__ == "__main__":
    main()
