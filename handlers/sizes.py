"""Every api answer fits in one Lambda response, measured as the runtime sends it.

A synchronous Lambda response is at most 6 MB (6,291,456 bytes) **as the runtime
serialises the handler's return value**: the JSON body is a string inside that
envelope, so each ``"`` and ``\\`` of the body costs one more byte. The python3.12
and 3.13 runtimes write that envelope as UTF-8 (``ensure_ascii=False``), and so does
:func:`serialize` for the body: a character of a message costs its UTF-8 bytes, not
the six of a ``\\uXXXX`` escape (seven once escaped again in the envelope). Over the
limit, API Gateway answers a bare 502 and the caller learns nothing. Two mechanisms
keep every answer under it:

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

from aws_lambda_powertools.shared.json_encoder import Encoder

# Lambda's synchronous invocation payload limit (request and response, each).
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
# The bound the api applies (STOWAGE_MAX_RESPONSE_BYTES): Lambda's limit less a margin.
DEFAULT_MAX_RESPONSE_BYTES = 6_000_000
# Room a list page leaves for its envelope: status, headers, counts and pagination.
PAGE_OVERHEAD = 8 * 1024


def serialize(value: Any) -> str:
    """The api's JSON bodies: compact, UTF-8 text rather than ``\\uXXXX`` escapes.

    A string holding a lone surrogate (no UTF-8 form) falls back to ASCII escapes, so
    a body can always be sent.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, cls=Encoder)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), cls=Encoder)
    return text


# simplejson's pure-Python encoder writes U+2028 and U+2029 as \\uXXXX escapes (its C
# encoder does not): counted escaped, 6 bytes instead of 3, so a size is never short.
_LINE_SEPARATORS = ("\u2028", "\u2029")


def envelope_bytes(result: dict[str, Any]) -> int:
    """The size of a handler result as the Lambda runtime sends it (UTF-8 JSON).

    Exact, except that a U+2028/U+2029 character counts as its 6-byte escape.
    """
    text = json.dumps(result, ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass")) + _separator_escapes(text)


def body_cost(value: Any) -> int:
    """The bytes ``value`` adds to the envelope once serialised into a JSON body.

    Its body text in UTF-8, plus one byte for each ``"`` and ``\\`` the envelope
    escapes once more (and three for each U+2028/U+2029).
    """
    text = serialize(value)
    return (len(text.encode("utf-8", "surrogatepass")) + text.count('"') + text.count("\\")
            + _separator_escapes(text))


def _separator_escapes(text: str) -> int:
    return 3 * sum(text.count(c) for c in _LINE_SEPARATORS)


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
    "serialize",
    "slice_within",
    "too_large",
]
