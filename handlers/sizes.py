"""Every api answer fits in one Lambda response, measured as the runtime sends it.

A synchronous Lambda response is at most 6 MB (6,291,456 bytes) **as the runtime
serialises the handler's return value**: the JSON body is a string inside that
envelope, so each ``"`` and ``\\`` of the body costs one more byte, and the Python
runtime writes non-ASCII characters as ``\\uXXXX``. Over the limit, API Gateway
answers a bare 502 and the caller learns nothing. Two mechanisms keep every answer
under it:

* lists stop a page early when the next item would not fit (:func:`fitting`), and
* :func:`bounded` checks the finished envelope of every route and swaps an answer
  that is still too big for a JSON 413 saying why.

Sizes are exact, not estimated: the cost of a value is the length of the text it
adds to the envelope.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# Lambda's synchronous invocation payload limit (request and response, each).
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
# The bound the api applies (STOWAGE_MAX_RESPONSE_BYTES): Lambda's limit less a margin.
DEFAULT_MAX_RESPONSE_BYTES = 6_000_000
# Room a list page leaves for its envelope: status, headers, counts and pagination.
PAGE_OVERHEAD = 8 * 1024


def envelope_bytes(result: dict[str, Any]) -> int:
    """The size of a handler result as the Lambda runtime sends it (ASCII-escaped JSON)."""
    return len(json.dumps(result))


def body_cost(value: Any) -> int:
    """The bytes ``value`` adds to the envelope once serialised into a JSON body.

    The body is compact ASCII JSON (the api's serializer); embedding it in the
    envelope escapes each ``"`` and ``\\`` once more.
    """
    text = json.dumps(value, separators=(",", ":"), default=str)
    return len(text) + text.count('"') + text.count("\\")


def fitting(items: Sequence[Any], budget: int) -> int:
    """How many leading ``items`` of a JSON list fit in ``budget`` envelope bytes."""
    used = 0
    for count, item in enumerate(items):
        used += body_cost(item) + (1 if count else 0)  # the comma between items
        if used > budget:
            return count
    return len(items)


def slice_within(offset: int, kept: int) -> int:
    """The largest page size ``<= kept`` whose pages start exactly at ``offset``.

    A page cut short is answered as a (``page``, ``perPage``) slice in Mastra's own
    terms, so a client that continues from the answer's ``page + 1`` and ``perPage``
    misses nothing: the size must divide the offset the page started at.
    """
    if offset == 0:
        return kept
    return max(size for size in range(1, kept + 1) if offset % size == 0)


def too_large(size: int, limit: int) -> dict[str, Any]:
    """The JSON 413 that replaces an answer over the response limit."""
    message = (f"the response would be {size} bytes, over the {limit}-byte limit of one "
               "response; the request was carried out: read its result in smaller pieces "
               "(a list: a smaller perPage)")
    return {
        "statusCode": 413,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": message}),
        "isBase64Encoded": False,
    }


def bounded(result: dict[str, Any], limit: int) -> dict[str, Any]:
    """``result`` if it fits in ``limit`` bytes, else a JSON 413 saying how big it was."""
    size = envelope_bytes(result)
    return result if size <= limit else too_large(size, limit)


__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "LAMBDA_RESPONSE_LIMIT",
    "PAGE_OVERHEAD",
    "body_cost",
    "bounded",
    "envelope_bytes",
    "fitting",
    "slice_within",
    "too_large",
]
