"""Fault injection for botocore clients: answer chosen requests with an AWS error.

A ``before-send`` handler registered first on a client answers the request itself
(an HTTP error response with the service's real JSON/XML error shape), so botocore's
own retry logic and the backend's error translation run exactly as against AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class Injector:
    """Fails the next ``times`` requests of ``operation`` (``None``: every one)."""

    def __init__(self, operation: str, status: int, headers: dict[str, str], body: bytes,
                 times: int | None) -> None:
        self.operation = operation
        self.status = status
        self.headers = headers
        self.body = body
        self.remaining = times
        self.failed = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.remaining is not None and self.remaining <= 0:
            return None
        if self.remaining is not None:
            self.remaining -= 1
        self.failed += 1
        url = request.url
        # botocore calls every before-send handler and keeps the first response; an
        # in-process moto would still execute the request, so point it nowhere.
        request.url = "http://fault-injected.invalid/"
        return AWSResponse(url, self.status, self.headers, _Raw(self.body))


@contextmanager
def failing(client: Any, operation: str, *, status: int, body: bytes,
            headers: dict[str, str] | None = None, times: int | None = None) -> Iterator[Injector]:
    """Make ``client``'s ``operation`` requests fail while the block runs."""
    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    injector = Injector(operation, status, headers or {}, body, times)
    client.meta.events.register_first(event, injector)
    try:
        yield injector
    finally:
        client.meta.events.unregister(event, injector)


def dynamodb_error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for :func:`failing`: a DynamoDB JSON error."""
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}
    return {
        "status": 400,
        "body": json.dumps(body).encode(),
        "headers": {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"},
    }


def s3_error(code: str, message: str, status: int = 500) -> dict[str, Any]:
    """Keyword arguments for :func:`failing`: an S3 XML error."""
    body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message><RequestId>fault</RequestId></Error>").encode()
    return {"status": status, "body": body, "headers": {"Content-Type": "application/xml"}}
