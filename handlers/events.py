"""API Gateway REST proxy events and a Lambda context, built locally.

The dev server turns each HTTP request into the event API Gateway would send
(``resource: /api/{proxy+}``), so the api handler runs exactly as deployed; the
tests build events the same way.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


def rest_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    query: Mapping[str, str | list[str]] | str | None = None,
    headers: Mapping[str, str] | None = None,
    stage: str = "local",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """A REST API (v1) proxy event for ``method path``.

    Args:
        body: text as is; bytes that are not UTF-8 are base64-encoded (as API Gateway
            does for binary media types).
        query: a mapping, or a raw query string.
    """
    if isinstance(query, str):
        multi: dict[str, list[str]] = parse_qs(query, keep_blank_values=True)
    else:
        multi = {k: list(v) if isinstance(v, list) else [v] for k, v in (query or {}).items()}
    encoded = False
    text: str | None
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    else:
        text = body
    hdrs = dict(headers or {})
    request_id = str(uuid.uuid4())
    proxy = path.removeprefix("/api/") if path.startswith("/api/") else path.lstrip("/")
    return {
        "resource": "/api/{proxy+}",
        "path": path,
        "httpMethod": method.upper(),
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": {"proxy": proxy},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/api/{proxy+}",
            "httpMethod": method.upper(),
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userArn": None, "caller": None},
            "accountId": "000000000000",
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


@dataclass
class LocalContext:
    """The parts of a Lambda context Powertools reads."""

    function_name: str = "stowage-local"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:stowage-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        """Plenty: local calls have no deadline."""
        return 900_000


__all__ = ["LocalContext", "rest_event"]
