"""The stream function: ``POST /api/agents/{id}/stream`` as Server-Sent Events (Starlette).

Deployed, uvicorn runs this app behind the Lambda Web Adapter in
``response_stream`` mode, so each chunk reaches the client as the model produces
it. The agent's (synchronous) stream runs in a worker thread and hands each event
to the response through an asyncio queue; nothing is buffered.

Wire format (what ``@mastra/client-js`` parses): one ``data: <json>\\n\\n`` per
chunk (``{"type", "runId", "from": "AGENT", "payload"}``), ``: keepalive\\n\\n``
after ``STOWAGE_KEEPALIVE_SECONDS`` without a chunk, an ``error`` chunk if the run
fails midway, and ``data: [DONE]\\n\\n`` last.

Errors found before the first chunk (a body not declared JSON, bad JSON, unknown
agent, a thread of another tenant, an oversize body, a retry of a turn still running)
answer a JSON ``{"error"}`` with a 4xx, like the api, from the same checks
(:mod:`handlers.json_input`). A retry of a completed turn (same user message id)
streams the stored answer in the same chunk shapes, without calling the model. The
stream has no deadline: long answers belong here.

A client that disconnects cancels the run: the worker closes the agent's stream,
so **nothing of the turn is saved** (the run is recorded ``canceled``) unless the
model had already finished, in which case the turn was saved whole, in one call.
The thread never holds half a turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import ValidationError as BodyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from handlers import json_input
from handlers._wiring import get_app, settings
from handlers.auth import authenticate
from handlers.cors import CORSMiddleware
from handlers.errors import (
    HTTPError,
    PayloadTooLargeError,
    describe_validation,
    error_headers,
    error_json,
    is_retryable,
    not_found,
    status_and_message,
)
from handlers.observability import emit_now

log = logging.getLogger(__name__)

KEEPALIVE = b": keepalive\n\n"
DONE = b"data: [DONE]\n\n"
_END = object()


def sse(chunk: dict[str, Any]) -> bytes:
    """One SSE event carrying ``chunk`` as JSON."""
    return b"data: " + json.dumps(chunk, separators=(",", ":"), default=str).encode() + b"\n\n"


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(int(declared), limit)
    body = bytearray()
    async for piece in request.stream():
        body.extend(piece)
        if len(body) > limit:
            raise PayloadTooLargeError(len(body), limit)
    return bytes(body)


def _request_context(request: Request) -> dict[str, Any] | None:
    # The Lambda Web Adapter forwards API Gateway's request context as a JSON header.
    raw = request.headers.get("x-amzn-request-context")
    if not raw:
        return None
    try:
        value = json_input.parse(raw, "x-amzn-request-context")
    except HTTPError:
        return None
    return value if isinstance(value, dict) else None


def _generate_body(raw: bytes) -> Any:
    """The validated body, parsed as the api parses its bodies (one parser, one limit).

    Raises:
        HTTPError: 400 not UTF-8 JSON, too deep or invalid.
    """
    from handlers.bodies import GenerateBody

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPError(400, "request body is not UTF-8 JSON") from None
    value = json_input.parse(text) if text else {}
    try:
        return GenerateBody.model_validate(value)
    except BodyError as exc:
        raise HTTPError(400, describe_validation([dict(e) for e in exc.errors()])) from exc


async def stream_agent(request: Request) -> Response:
    """Validate, prepare the run (refusals are 4xx JSON), then stream its chunks.

    The checks run in the api's order: body size (413), declared JSON (415), caller
    (401), agent (404), body (400).
    """
    from handlers.routes.agents import prepare_memory

    config = settings()
    try:
        raw = await _read_body(request, config.max_body_bytes)
        if raw:
            json_input.require_json(request.headers.get("content-type"))
        caller = authenticate(config, request.headers, _request_context(request))
        agent = get_app().agents.get(request.path_params["agent_id"])
        if agent is None:
            raise not_found("Agent")
        body = _generate_body(raw)
        memory_arg = await asyncio.to_thread(prepare_memory, agent, body, caller)
        run = await asyncio.to_thread(agent.stream, body.messages, memory=memory_arg,
                                      max_steps=body.max_steps, run_id=body.run_id)
    except ClientDisconnect:
        return Response(status_code=400)
    except Exception as exc:
        status, message = status_and_message(exc)
        if status >= 500:
            log.exception("stream: refused before the first chunk status=%s", status)
        return JSONResponse(error_json(message, retryable=is_retryable(exc)),
                            status_code=status, headers=error_headers(exc))
    log.info("stream: started agent=%s run_id=%s", agent.id, run.run_id)
    emit_now("Streams")
    return StreamingResponse(
        chunks(run, config.keepalive_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                 "x-mastra-run-id": run.run_id},
    )


async def chunks(run: Any, keepalive: float) -> AsyncIterator[bytes]:
    """The SSE bytes of an agent stream, produced by a worker thread as events happen."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            for event in run:
                loop.call_soon_threadsafe(queue.put_nowait, event.to_dict())
                if stop.is_set():
                    # The client is gone: close the run, so the turn is not saved.
                    run.close()
                    return
        except Exception as exc:  # pragma: no cover - AgentStream reports run errors itself
            log.exception("stream: producer failed run_id=%s", run.run_id)
            error = {"type": "error", "runId": run.run_id, "from": "AGENT",
                     "payload": {"error": {"message": str(exc), "name": type(exc).__name__}}}
            loop.call_soon_threadsafe(queue.put_nowait, error)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _END)

    worker = threading.Thread(target=produce, name=f"stream-{run.run_id[:8]}", daemon=True)
    worker.start()
    finished = False
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=keepalive)
            except TimeoutError:
                yield KEEPALIVE
                continue
            if item is _END:
                finished = True
                break
            yield sse(item)
        yield DONE
    finally:
        if not finished:
            stop.set()
            log.info("stream: client went away run_id=%s", run.run_id)
            emit_now("StreamsAbandoned")


@asynccontextmanager
async def _lifespan(_: Starlette) -> AsyncIterator[None]:
    # A bad setting stops uvicorn here, naming the setting: Lambda's init fails rather
    # than every request answering an error.
    settings()
    # Build the App while uvicorn starts (Lambda's init phase), not on the first request.
    try:
        await asyncio.to_thread(get_app)
    except Exception:
        # Serve anyway: each request then answers the wiring error as a JSON 500.
        log.exception("stream: the App could not be built at startup")
    yield


routes = [Route("/api/agents/{agent_id}/stream", stream_agent, methods=["POST"])]
# Preflights are answered by the middleware (no auth); every answer carries CORS headers.
app = Starlette(routes=routes, lifespan=_lifespan, middleware=[Middleware(CORSMiddleware)])

__all__ = ["DONE", "KEEPALIVE", "app", "chunks", "routes", "sse", "stream_agent"]
