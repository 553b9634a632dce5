"""The api Lambda: every JSON route of DESIGN §4 under ``/api`` (Powertools REST resolver).

Routes live in :mod:`handlers.routes` (agents, memory, records, attachments); this
module builds the resolver, checks the body (size, declared JSON, UTF-8) and the
caller before routing, maps every error to ``{"error": ...}`` with its status in one
place (:func:`handlers.errors.status_and_message`), bounds every answer to one Lambda
response (:mod:`handlers.sizes`) and serves the OpenAPI document at
``/api/openapi.json``. The stream route has its own function (:mod:`handlers.stream`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths

from handlers import json_input
from handlers._wiring import settings
from handlers.auth import authenticate
from handlers.cors import add_headers, header
from handlers.errors import (
    HTTPError,
    PayloadTooLargeError,
    describe_validation,
    error_body,
    error_headers,
    is_retryable,
    status_and_message,
)
from handlers.observability import count, logger, metrics, tracer
from handlers.routes import agents, attachments, catalog, exports, memory, records, search, studio
from handlers.routes import erase as erase_routes
from handlers.routes import metrics as metric_routes
from handlers.routes import observability as observability_routes
from handlers.routes.agents import request_deadline
from handlers.routes.studio import PUBLIC_ROUTES as STUDIO_PUBLIC_ROUTES
from handlers.sizes import bounded, serialize

log = logging.getLogger(__name__)
API_PREFIX = "/api"
TITLE = "Stowage API"
VERSION = "0.1.0"

# Every JSON body is parsed by the one parser with the one nesting limit, and written as
# UTF-8 (what the response size bound measures).
app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=json_input.parse,
                             serializer=serialize)
# Studio's routers first: their fixed paths (/agents/providers, /observability/traces/light)
# must win over the {id} routes of the others.
for _router in (studio.router, catalog.router, observability_routes.router, metric_routes.router,
                agents.router, memory.router, records.router, attachments.router, search.router,
                erase_routes.router, exports.router):
    app.include_router(_router, prefix=API_PREFIX)
app.include_router(studio.root_router)


@app.get(f"{API_PREFIX}/health", summary="Health check", tags=["System"])
def health() -> dict[str, Any]:
    """``{"status": "ok"}`` (no storage call: a liveness probe)."""
    return {"status": "ok"}


@app.get(f"{API_PREFIX}/openapi.json", summary="OpenAPI document", tags=["System"])
def openapi() -> Response[dict[str, Any]]:
    """This API's OpenAPI 3 document."""
    # Typed as an object so the document describes its own route truthfully.
    document: dict[str, Any] = json.loads(openapi_document())
    return Response(200, content_types.APPLICATION_JSON, document)


def openapi_document() -> str:
    """The OpenAPI document as JSON text."""
    return app.get_openapi_json_schema(title=TITLE, version=VERSION)


def _error(status: int, message: str, headers: dict[str, str] | None = None, *,
           retryable: bool = False) -> Response[str]:
    return Response(status, content_types.APPLICATION_JSON,
                    error_body(message, retryable=retryable), headers=headers)


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(exc: RequestValidationError) -> Response[str]:
    return _error(400, describe_validation(list(exc.errors())))


@app.not_found
def _no_route(exc: Exception) -> Response[str]:
    return _error(404, "no such route")


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _failed(exc: Exception) -> Response[str]:
    status, message = status_and_message(exc)
    if status >= 500:
        logger.exception("request failed status=%s", status)
        count("ServerErrors")
    return _error(status, message, error_headers(exc), retryable=is_retryable(exc))


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        # The decoded size, without decoding (a bad encoding is the resolver's 400).
        return len(body) * 3 // 4
    return len(body.encode("utf-8")) if isinstance(body, str) else len(body)


def _check_body(event: dict[str, Any], limit: int) -> dict[str, Any]:
    """A body is at most ``limit`` bytes of UTF-8 JSON, declared as such, and parses.

    A request without a body (GET, DELETE, a CORS preflight) needs no content type.
    A body is parsed here (:func:`json_input.parse`: the nesting limit) whatever the
    route, so a route that takes no body (``DELETE /memory/resources/{id}``, an
    export) answers a malformed or too-deep one with the same 400 as any other
    route, instead of ignoring it; a well-formed body such a route ignores.
    Returns the event with its content type normalised to ``application/json`` (the
    resolver's body parser knows no ``+json`` type and no upper case).

    Raises:
        HTTPError: 413 over the limit, 415 not declared JSON, 400 not UTF-8.
    """
    size = _body_size(event)
    if size > limit:
        raise PayloadTooLargeError(size, limit)
    if not event.get("body"):
        return event
    headers = event.get("headers") or {}
    json_input.require_json(header(headers, "content-type"))
    text = event["body"]
    if event.get("isBase64Encoded"):
        # API Gateway base64-encodes bodies that are not UTF-8 text; JSON must be UTF-8
        # (Powertools would fail decoding it: a 500 instead of the caller's 400).
        try:
            text = base64.b64decode(event["body"], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, TypeError) as exc:
            raise HTTPError(400, "request body is not UTF-8 JSON") from exc
    json_input.parse(text)
    plain = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items()
             if k.lower() != "content-type"}
    return {**event,
            "headers": {**plain, "Content-Type": content_types.APPLICATION_JSON},
            "multiValueHeaders": {**multi, "Content-Type": [content_types.APPLICATION_JSON]}}


# Requests answered without credentials, as (method, path): load balancers and uptime
# probes send none, nor does Studio before it signs in. None of them reads or writes
# tenant data: their routes get no caller, and ``caller_of`` refuses to make one up.
PUBLIC_ROUTES = STUDIO_PUBLIC_ROUTES | {("GET", f"{API_PREFIX}/health")}


def needs_credentials(event: dict[str, Any]) -> bool:
    """Whether the caller must be authenticated before this request is routed.

    CORS preflights never get here: :func:`dispatch` answers them first (a browser
    sends them without credentials or a body).
    """
    return (event.get("httpMethod", "").upper(), event.get("path")) not in PUBLIC_ROUTES


def _reply(status: int, message: str) -> dict[str, Any]:
    headers = {"Content-Type": content_types.APPLICATION_JSON}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return {
        "statusCode": status,
        "headers": headers,
        "body": json.dumps({"error": message}),
        "isBase64Encoded": False,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (API Gateway REST proxy events)."""
    return dispatch(event, context)


def dispatch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer CORS preflights, check body and caller, route, bound the answer (every answer
    gets CORS headers); used by :func:`handler` and the dev server."""
    config = settings()
    origin = header(event.get("headers"), "origin")
    if event.get("httpMethod", "").upper() == "OPTIONS":
        # Before the body checks and auth: browsers send preflights without credentials.
        requested = header(event.get("headers"), "access-control-request-headers")
        return {"statusCode": 204, "headers": config.cors.preflight(origin, requested),
                "body": "", "isBase64Encoded": False}
    result = _route(event, context, config)
    cors = config.cors.headers(origin)
    if cors:
        add_headers(result.setdefault("headers", {}), cors)
        multi = result.get("multiValueHeaders") or {}
        for name in [k for k in multi if k.lower() in {n.lower() for n in cors}]:
            del multi[name]
    return result


def _route(event: dict[str, Any], context: Any, config: Any) -> dict[str, Any]:
    try:
        event = _check_body(event, config.max_body_bytes)
        caller = (authenticate(config, event.get("headers") or {}, event.get("requestContext"))
                  if needs_credentials(event) else None)
    except HTTPError as exc:
        return _reply(exc.status, exc.message)
    # The request's deadline starts now (generate bounds its model calls by it).
    app.append_context(caller=caller,  # type: ignore[no-untyped-call]
                       deadline=request_deadline(config, context))
    result: dict[str, Any] = app.resolve(event, context)
    return bounded(result, config.max_response_bytes)


# Fail the cold start (Lambda's init) on a bad setting, with the setting's name, rather
# than answer every request with an error.
settings()

__all__ = ["PUBLIC_ROUTES", "app", "dispatch", "handler", "needs_credentials",
           "openapi_document"]
