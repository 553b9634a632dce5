"""Every failure a handler can meet, mapped to an HTTP status in ONE place.

Routes raise :class:`HTTPError` for what they decide themselves (a thread of another
tenant, a missing agent id); storage and agent errors arrive as they are and are
translated here. The body is always Mastra's ``{"error": "<message>"}``.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from storage.errors import (
    ConflictError,
    ItemTooLargeError,
    NotFoundError,
    StorageError,
    UnavailableError,
    ValidationError,
)

log = logging.getLogger(__name__)


class HTTPError(Exception):
    """An error the handler answers as is: ``status`` and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AuthError(HTTPError):
    """The caller did not prove who it is (401)."""

    def __init__(self, message: str = "unauthorized") -> None:
        super().__init__(401, message)


class PayloadTooLargeError(HTTPError):
    """The request body is over the configured limit (413)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(413, f"request body of {size} bytes is over the {limit}-byte limit")


def not_found(what: str) -> HTTPError:
    """A 404 with Mastra's wording (``Thread not found``)."""
    return HTTPError(404, f"{what} not found")


def describe_validation(errors: list[dict[str, Any]]) -> str:
    """A pydantic error list as one readable line, without echoing the input values."""
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) if loc else "body"
        if err.get("type") == "json_invalid":
            return "request body is not valid JSON"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def status_and_message(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and the caller-facing message for any exception.

    Unknown errors are a 500 whose message reveals nothing; they are logged with
    their traceback by the caller.
    """
    from agents.memory import ThreadOwnershipError

    if isinstance(exc, HTTPError):
        return exc.status, exc.message
    if isinstance(exc, ThreadOwnershipError):
        # Never reveal that another tenant's thread exists.
        return 404, "Thread not found"
    from agents.deadline import DeadlineExceededError

    if isinstance(exc, DeadlineExceededError):
        # API Gateway's own timeout is a 504 too: clients already treat it as retryable.
        return 504, (f"{exc}; nothing was saved: retry with the same message id, or use "
                     "the stream route for long answers")
    if isinstance(exc, NotFoundError):
        return 404, str(exc) or "not found"
    if isinstance(exc, ValidationError):
        return 400, str(exc) or "invalid request"
    if isinstance(exc, ConflictError):
        return 409, str(exc) or "conflict"
    if isinstance(exc, ItemTooLargeError):
        return 413, str(exc) or "item too large"
    if isinstance(exc, UnavailableError):
        wait = retry_after(exc)
        if wait is not None:
            return 503, f"storage is resuming, retry in {wait} seconds"
        return 503, "storage is unavailable, retry later"
    if isinstance(exc, StorageError):
        return 500, "storage error"
    from agents.models.base import ModelError

    if isinstance(exc, ModelError):
        return 502, f"model error: {exc}"
    return 500, "internal error"


def retry_after(exc: BaseException) -> int | None:
    """Whole seconds for a ``Retry-After`` header, when the error knows (a resuming database)."""
    hint = getattr(exc, "retry_after", None) if isinstance(exc, UnavailableError) else None
    return None if hint is None else max(1, math.ceil(hint))


def error_headers(exc: BaseException) -> dict[str, str]:
    """Headers an error response carries besides its body: ``Retry-After`` on a 503."""
    wait = retry_after(exc)
    return {} if wait is None else {"Retry-After": str(wait)}


def error_body(message: str, *, retryable: bool = False) -> str:
    """``{"error": message}`` as JSON, with ``"retryable": true`` when it is."""
    return json.dumps(error_json(message, retryable=retryable))


def error_json(message: str, *, retryable: bool = False) -> dict[str, Any]:
    """``{"error": message}``, with ``"retryable": true`` when the same request may succeed."""
    body: dict[str, Any] = {"error": message}
    if retryable:
        body["retryable"] = True
    return body


def is_retryable(exc: BaseException) -> bool:
    """Whether the error says the same request may succeed later (a timeout, a turn in
    flight, a throttled model)."""
    return getattr(exc, "retryable", False) is True or retry_after(exc) is not None


__all__ = [
    "AuthError",
    "HTTPError",
    "PayloadTooLargeError",
    "describe_validation",
    "error_body",
    "error_headers",
    "error_json",
    "is_retryable",
    "not_found",
    "retry_after",
    "status_and_message",
]
