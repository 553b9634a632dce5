"""What callers send as JSON: one parser, one nesting limit, one media-type rule.

Every piece of JSON a caller controls goes through :func:`parse`: request bodies (the
api resolver's deserializer and the stream function), the JSON query parameters
(``include``, ``orderBy``, ``filter``, ``metadata``) and so thread metadata wherever it
arrives. A value nested deeper than :data:`MAX_DEPTH` is a 400 naming the field,
never a ``RecursionError`` deep in a handler (a 500).

The limit is on the request's JSON, counted from the top of the body or query value;
what storage then keeps is bounded separately and more tightly
(:data:`storage.validation.MAX_JSON_DEPTH`, DynamoDB's 32 levels less a margin), with
its own 400.

:func:`require_json` is the cross-site write guard: a browser page may send a "simple"
cross-origin POST (``text/plain``, a form, or no content type) without a CORS
preflight, so a body that does not declare JSON is refused with a 415 before anything
runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from handlers.errors import HTTPError

MAX_DEPTH = 64
# Query parameters carry JavaScript numbers (Mastra's client builds them with
# JSON.stringify): an integer beyond 2**53 - 1 cannot have been meant exactly.
MAX_SAFE_INTEGER = 2**53 - 1
# How many levels of a too-deep value's path an error names ("memory.thread.metadata...").
_PATH_SHOWN = 4


def parse(text: str | bytes | bytearray, what: str = "request body") -> Any:
    """Parse caller JSON, refusing nesting deeper than :data:`MAX_DEPTH`.

    Args:
        text: the JSON text (UTF-8 when bytes).
        what: the field the text is, for error messages (``"include"``, ``"request body"``).

    Raises:
        HTTPError: 400 when it is not JSON or is nested too deep.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        # The parser gave up long before we could look: far deeper than the limit.
        raise HTTPError(400, f"{what} is nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError):
        raise HTTPError(400, f"{what} is not valid JSON") from None
    check_depth(value, what)
    return value


def parse_query(raw: str, name: str) -> Any:
    """A JSON query parameter: :func:`parse`, and every integer a JavaScript number.

    Raises:
        HTTPError: 400 naming ``name``.
    """
    value = parse(raw, name)
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool) and \
                abs(node) > MAX_SAFE_INTEGER:
            raise HTTPError(400, f"{name} holds an integer beyond {MAX_SAFE_INTEGER}")
    return value


def check_depth(value: Any, what: str) -> None:
    """Refuse ``value`` when its containers nest deeper than :data:`MAX_DEPTH`.

    The error names the path to the first branch that is too deep
    (``request body: memory.thread.metadata.a... is nested deeper than 64 levels``).

    Raises:
        HTTPError: 400.
    """
    if not _too_deep(value, MAX_DEPTH):
        return
    path: list[str] = []
    node, budget = value, MAX_DEPTH
    while len(path) < _PATH_SHOWN:
        branch = _deep_child(node, budget - 1)
        if branch is None:
            break
        key, node = branch
        path.append(key)
        budget -= 1
    where = ".".join(path) + ("..." if len(path) == _PATH_SHOWN else "")
    field = f"{what}: {where}" if where else what
    raise HTTPError(400, f"{field} is nested deeper than {MAX_DEPTH} levels")


def _children(node: Any) -> Any:
    if isinstance(node, Mapping):
        return node.items()
    if isinstance(node, list):
        return enumerate(node)
    return ()


def _deep_child(node: Any, budget: int) -> tuple[str, Any] | None:
    for key, child in _children(node):
        if _too_deep(child, budget):
            return str(key), child
    return None


def _too_deep(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Mapping | list):
            continue
        if depth > limit:
            return True
        items = node.values() if isinstance(node, Mapping) else node
        stack.extend((child, depth + 1) for child in items if isinstance(child, Mapping | list))
    return False


def is_json_media(content_type: str | None) -> bool:
    """``application/json`` or any ``+json`` type, parameters (``; charset``) ignored."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                             and media.endswith("+json"))


def require_json(content_type: str | None) -> None:
    """Refuse a request body that does not declare JSON (the cross-site write guard).

    Raises:
        HTTPError: 415 naming what was declared (or that nothing was).
    """
    if is_json_media(content_type):
        return
    media = (content_type or "").split(";", 1)[0].strip().lower()
    declared = f"not {media}" if media else "but none is declared"
    raise HTTPError(415, f"Content-Type must be application/json, {declared}")


__all__ = ["MAX_DEPTH", "MAX_SAFE_INTEGER", "check_depth", "is_json_media", "parse", "parse_query",
           "require_json"]
