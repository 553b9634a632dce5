"""What the remote providers (Bedrock, OpenAI-compatible) share when they build a
request and read an answer: the request's options over the model's defaults, and a
tool call's arguments parsed from the JSON text the model wrote."""

from __future__ import annotations

import json
from typing import Any

from agents.models.base import ModelError, ModelRequest


def sampling(
    request: ModelRequest, *, max_tokens: int | None, temperature: float | None
) -> tuple[int | None, float | None]:
    """The request's ``max_tokens`` and ``temperature``, else the model's own.

    A request's ``max_tokens`` of 0 counts as unset; its ``temperature`` of 0.0 is kept.
    """
    chosen = request.temperature if request.temperature is not None else temperature
    return request.max_tokens or max_tokens, chosen


def tool_args(text: str, *, error: str) -> dict[str, Any]:
    """A tool call's arguments from the model's JSON text.

    Returns:
        The object; ``{}`` for empty text; ``{"input": value}`` for JSON that is not
        an object (a model may answer a bare string or number).

    Raises:
        ModelError: ``text`` is not JSON (``code="bad_tool_input"``, message ``error``).
    """
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(error, code="bad_tool_input") from exc
    return value if isinstance(value, dict) else {"input": value}
