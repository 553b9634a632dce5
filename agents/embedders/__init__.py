"""Embedders: texts to vectors for semantic recall, named like models.

    >>> from agents.embedders import resolve_embedder
    >>> embedder = resolve_embedder("local/all-minilm-l6-v2")   # or bedrock/..., openai/...
    >>> len(embedder.embed(["hello"])[0]) == embedder.dimensions
    True

``BedrockEmbedder``, ``OpenAIEmbedder`` and ``LocalEmbedder`` are importable from here
too, lazily, so importing this package loads neither boto3, httpx nor torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from agents.embedders.base import BaseEmbedder, Embedder, EmbedderError, normalize
from agents.embedders.registry import (
    embedder_from_env,
    register_embedder_provider,
    resolve_embedder,
)

_LAZY = {"BedrockEmbedder": "agents.embedders.bedrock",
         "OpenAIEmbedder": "agents.embedders.openai",
         "LocalEmbedder": "agents.embedders.local",
         "HashEmbedder": "agents.embedders.hashing"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "BaseEmbedder",
    "BedrockEmbedder",
    "Embedder",
    "EmbedderError",
    "HashEmbedder",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "embedder_from_env",
    "normalize",
    "register_embedder_provider",
    "resolve_embedder",
]
