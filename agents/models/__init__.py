"""Models: the interface, and the providers resolved by name (see :func:`resolve_model`)."""

from __future__ import annotations

from agents.models.base import (
    BaseModel,
    ChatMessage,
    FilePart,
    Finish,
    FinishReason,
    Model,
    ModelError,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolResult,
    ToolSpec,
    Usage,
)
from agents.models.echo import EchoModel
from agents.models.registry import register_provider, resolve_model
from agents.models.scripted import Reply, ScriptedModel

__all__ = [
    "BaseModel",
    "ChatMessage",
    "EchoModel",
    "FilePart",
    "Finish",
    "FinishReason",
    "Model",
    "ModelError",
    "ModelEvent",
    "ModelRequest",
    "ModelResponse",
    "Reply",
    "ScriptedModel",
    "TextDelta",
    "TextPart",
    "ToolCall",
    "ToolCallEvent",
    "ToolResult",
    "ToolSpec",
    "Usage",
    "register_provider",
    "resolve_model",
]
