"""Stream events with Mastra's chunk types (``@mastra/core`` ``stream/types.ts``).

Each event renders as ``{"type", "runId", "from": "AGENT", "payload": {...}}``, the
shape ``@mastra/client-js`` reads from ``POST /api/agents/{id}/stream``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EventType = Literal[
    "start",
    "step-start",
    "text-start",
    "text-delta",
    "text-end",
    "tool-call",
    "tool-result",
    "step-finish",
    "finish",
    "error",
]
EVENT_TYPES: frozenset[str] = frozenset(
    {
        "start",
        "step-start",
        "text-start",
        "text-delta",
        "text-end",
        "tool-call",
        "tool-result",
        "step-finish",
        "finish",
        "error",
    }
)


@dataclass(frozen=True)
class Event:
    """One chunk of an agent's stream.

    Payload fields by type (Mastra's names):
        * ``start``: ``{"agentId", "threadId"?, "resourceId"?}``
        * ``step-start``: ``{"messageId", "request": {}, "warnings": []}``
        * ``text-start`` / ``text-end``: ``{"id"}``; ``text-delta``: ``{"id", "text"}``
        * ``tool-call``: ``{"toolCallId", "toolName", "args"}``
        * ``tool-result``: ``{"toolCallId", "toolName", "args", "result", "isError"}``
        * ``step-finish``: ``{"messageId", "stepResult": {"reason", "isContinued",
          "warnings"}, "output": {"text", "toolCalls", "usage"}, "metadata": {}}``
        * ``finish``: ``{"stepResult": {"reason"}, "output": {"text", "usage"},
          "metadata": {"threadId", "resourceId"}, "messages": {"nonUser": [...]}}``
        * ``error``: ``{"error": {"message", "name", "code"?}}``
    """

    type: str
    run_id: str
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The chunk as JSON: ``{"type", "runId", "from": "AGENT", "payload"}``."""
        return {"type": self.type, "runId": self.run_id, "from": "AGENT", "payload": self.payload}


__all__ = ["EVENT_TYPES", "Event", "EventType"]
