"""Models: the interface, and the providers resolved by name (see :func:`resolve_model`).

``BedrockModel`` and ``OpenAIModel`` are importable from here too, lazily, so importing
this package loads neither boto3 nor httpx.
"""

from __future__ import annotations

import importlib
from typing import Any

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

_LAZY = {"BedrockModel": "agents.models.bedrock", "OpenAIModel": "agents.models.openai"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "BaseModel",
    "BedrockModel",
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
    "OpenAIModel",
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
