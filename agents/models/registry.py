"""Models named by string: ``bedrock/<model-id>``, ``openai/<model>``, ``local/echo``.

Provider modules are imported only when named, so a Lambda running Bedrock never
imports httpx's OpenAI client and vice versa.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from agents.models.base import Model

# provider prefix -> "module:factory"; the factory takes the rest of the name.
PROVIDERS: dict[str, str] = {
    "bedrock": "agents.models.bedrock:from_name",
    "openai": "agents.models.openai:from_name",
    "local": "agents.models.registry:_local",
}


def _local(name: str, **options: Any) -> Model:
    if name == "echo":
        from agents.models.echo import EchoModel

        return EchoModel(**options)
    raise ValueError(f"unknown local model {name!r}; known: local/echo")


def register_provider(prefix: str, factory: str | Callable[..., Model]) -> None:
    """Make ``<prefix>/<name>`` resolve through ``factory(name, **options)``.

    Args:
        prefix: the provider prefix, e.g. ``"ollama"``.
        factory: a callable, or ``"module:function"`` imported on first use.
    """
    if callable(factory):
        _CALLABLES[prefix] = factory
    else:
        PROVIDERS[prefix] = factory


_CALLABLES: dict[str, Callable[..., Model]] = {}


def resolve_model(spec: str | Model, **options: Any) -> Model:
    """Turn a model name into a model; a model instance is returned as is.

    Raises:
        ValueError: the name has no ``provider/`` prefix or names an unknown provider.
    """
    if not isinstance(spec, str):
        if not isinstance(spec, Model):
            raise TypeError(f"model must be a name or a Model, got {type(spec).__name__}")
        return spec
    prefix, sep, name = spec.partition("/")
    if not sep or not name:
        raise ValueError(f"model name {spec!r} must look like provider/model, e.g. local/echo")
    factory = _CALLABLES.get(prefix)
    if factory is None:
        target = PROVIDERS.get(prefix)
        if target is None:
            known = ", ".join(sorted({*PROVIDERS, *_CALLABLES}))
            raise ValueError(f"unknown model provider {prefix!r} in {spec!r}; known: {known}")
        module_name, func_name = target.split(":")
        factory = getattr(importlib.import_module(module_name), func_name)
    return factory(name, **options)
