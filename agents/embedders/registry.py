"""Embedders named like models: ``bedrock/<model-id>``, ``openai/<model>``, ``local/<name>``.

Provider modules are imported only when named (a Lambda on Bedrock never imports
httpx's client or torch). ``STOWAGE_EMBEDDER`` names the deployment's embedder
(:func:`embedder_from_env`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any

from agents.embedders.base import Embedder

# provider prefix -> "module:factory"; the factory takes the rest of the name.
PROVIDERS: dict[str, str] = {
    "bedrock": "agents.embedders.bedrock:from_name",
    "openai": "agents.embedders.openai:from_name",
    "local": "agents.embedders.registry:_local",
}
_CALLABLES: dict[str, Callable[..., Embedder]] = {}


def _local(name: str, **options: Any) -> Embedder:
    if name == "hash":
        from agents.embedders.hashing import HashEmbedder

        return HashEmbedder(**options)
    from agents.embedders.local import LocalEmbedder

    return LocalEmbedder(name, **options)


def register_embedder_provider(prefix: str, factory: str | Callable[..., Embedder]) -> None:
    """Make ``<prefix>/<name>`` resolve through ``factory(name, **options)``.

    Args:
        prefix: the provider prefix, e.g. ``"cohere"``.
        factory: a callable, or ``"module:function"`` imported on first use.
    """
    if callable(factory):
        _CALLABLES[prefix] = factory
    else:
        PROVIDERS[prefix] = factory


def resolve_embedder(spec: str | Embedder, **options: Any) -> Embedder:
    """Turn an embedder name into an embedder; an embedder instance is returned as is.

    Raises:
        ValueError: a name without ``provider/``, or an unknown provider or model.
        TypeError: neither a name nor an embedder.
    """
    if not isinstance(spec, str):
        if not isinstance(spec, Embedder):
            raise TypeError(f"embedder must be a name or an Embedder, got {type(spec).__name__}")
        return spec
    prefix, sep, name = spec.partition("/")
    if not sep or not name:
        raise ValueError(
            f"embedder name {spec!r} must look like provider/model, e.g. local/all-minilm-l6-v2")
    factory = _CALLABLES.get(prefix)
    if factory is None:
        target = PROVIDERS.get(prefix)
        if target is None:
            known = ", ".join(sorted({*PROVIDERS, *_CALLABLES}))
            raise ValueError(f"unknown embedder provider {prefix!r} in {spec!r}; known: {known}")
        module_name, func_name = target.split(":")
        factory = getattr(importlib.import_module(module_name), func_name)
    embedder: Embedder = factory(name, **options)
    return embedder


def embedder_from_env(environ: Mapping[str, str] | None = None) -> Embedder | None:
    """The embedder ``STOWAGE_EMBEDDER`` names (``STOWAGE_EMBEDDER_DIMENSIONS`` sets its
    size where the model offers several), or ``None`` when it is unset.

    Raises:
        ValueError: a malformed name or dimensions.
    """
    env = os.environ if environ is None else environ
    spec = (env.get("STOWAGE_EMBEDDER") or "").strip()
    if not spec:
        return None
    options: dict[str, Any] = {}
    raw = (env.get("STOWAGE_EMBEDDER_DIMENSIONS") or "").strip()
    if raw:
        if not raw.isdigit():
            raise ValueError(f"STOWAGE_EMBEDDER_DIMENSIONS must be an integer, got {raw!r}")
        options["dimensions"] = int(raw)
    return resolve_embedder(spec, **options)


__all__ = ["PROVIDERS", "embedder_from_env", "register_embedder_provider", "resolve_embedder"]
