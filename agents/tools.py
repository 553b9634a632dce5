"""Tools: plain Python functions (schema from type hints and docstring) or pydantic-typed.

    >>> def get_weather(city: str, unit: str = "C") -> dict:
    ...     '''Current weather of a city.
    ...
    ...     Args:
    ...         city: the city name.
    ...         unit: C or F.
    ...     '''
    >>> Agent(..., tools=[get_weather])

A function whose only argument is a pydantic model gets that model's schema. A
parameter annotated :class:`ToolContext` is not shown to the model: the run's
context (thread, resource, storage) is passed there.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from agents.models.base import ToolSpec

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know about the run that called it.

    Attributes:
        agent_id: the agent running the tool.
        run_id: the run's id.
        thread_id: the thread, when memory is on.
        resource_id: the resource, when memory is on.
        storage: the agent's store (``None`` without storage).
    """

    agent_id: str
    run_id: str
    thread_id: str | None = None
    resource_id: str | None = None
    storage: Any = None


class ToolArgumentsError(ValueError):
    """The model's arguments do not match the tool's schema."""


class Tool:
    """A callable the model may ask for.

    Args:
        fn: the function to run.
        name: the name the model sees (default: the function's name).
        description: what it does (default: the docstring's first paragraph).
        parameters: a JSON schema of the arguments (default: built from type hints).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "tool"))
        if not _TOOL_NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {_TOOL_NAME.pattern}")
        doc = inspect.getdoc(fn) or ""
        self.description: str = description or _summary(doc) or self.name
        self._context_param: str | None = None
        self._model_param: str | None = None
        self._validator: type[pydantic.BaseModel] | None = None
        built = self._inspect(fn, _arg_docs(doc))
        self.parameters: dict[str, Any] = dict(parameters) if parameters is not None else built

    def _inspect(self, fn: Callable[..., Any], arg_docs: dict[str, str]) -> dict[str, Any]:
        hints = typing.get_type_hints(fn)
        fields: dict[str, Any] = {}
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        for param in params:
            hint = hints.get(param.name, Any)
            if hint is ToolContext:
                self._context_param = param.name
                continue
            if inspect.isclass(hint) and issubclass(hint, pydantic.BaseModel) and len(params) <= 2:
                self._model_param = param.name
                self._validator = hint
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (
                hint,
                pydantic.Field(default, description=arg_docs.get(param.name)),
            )
        if self._validator is not None:
            if fields:
                raise ValueError(
                    f"tool {self.name!r}: a pydantic-typed tool takes the model as its only "
                    "argument"
                )
            return _clean_schema(self._validator.model_json_schema())
        self._validator = pydantic.create_model(f"{self.name}_args", **fields)
        return _clean_schema(self._validator.model_json_schema())

    def spec(self) -> ToolSpec:
        """The tool as the model sees it."""
        return ToolSpec(self.name, self.description, self.parameters)

    def describe(self) -> dict[str, Any]:
        """``{"id", "description", "inputSchema"}``, as Mastra's ``GET /api/agents`` lists tools."""
        return {"id": self.name, "description": self.description, "inputSchema": self.parameters}

    def run(self, args: Mapping[str, Any], context: ToolContext) -> Any:
        """Validate ``args`` and call the function; returns a JSON-ready result.

        Raises:
            ToolArgumentsError: the arguments do not match the schema.
            Exception: whatever the tool raises.
        """
        assert self._validator is not None
        try:
            parsed = self._validator.model_validate(dict(args))
        except pydantic.ValidationError as exc:
            raise ToolArgumentsError(f"invalid arguments for {self.name}: {exc}") from exc
        if self._model_param is not None:
            kwargs: dict[str, Any] = {self._model_param: parsed}
        else:
            kwargs = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        if self._context_param is not None:
            kwargs[self._context_param] = context
        return to_json(self.fn(**kwargs))

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def tool(
    fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None
) -> Any:
    """Decorator: turn a function into a :class:`Tool` (``@tool`` or ``@tool(name=...)``)."""
    if fn is None:
        return lambda f: Tool(f, name=name, description=description)
    return Tool(fn, name=name, description=description)


def as_tool(value: Tool | Callable[..., Any]) -> Tool:
    """A :class:`Tool` from a tool or a plain function."""
    if isinstance(value, Tool):
        return value
    if callable(value):
        return Tool(value)
    raise TypeError(f"a tool must be a function or a Tool, got {type(value).__name__}")


def to_json(value: Any) -> Any:
    """A JSON-ready version of a tool result (pydantic models, dataclasses, sets...)."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return str(value)


def _summary(doc: str) -> str:
    return doc.split("\n\n", 1)[0].strip().replace("\n", " ")


def _arg_docs(doc: str) -> dict[str, str]:
    """Parameter descriptions from a Google-style ``Args:`` section."""
    found: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if not in_args:
            continue
        if stripped.endswith(":") and not line.startswith((" ", "\t")):
            break  # the next section (Returns:, Raises:)
        match = re.match(r"^(\w+)\s*(?:\([^)]*\))?:\s*(.*)$", stripped)
        if match and line.startswith(("    ", "\t")) and not line.startswith(("        ", "\t\t")):
            current = match.group(1)
            found[current] = match.group(2)
        elif current and stripped:
            found[current] = f"{found[current]} {stripped}".strip()
        elif not stripped and found:
            current = None
    return found


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # Pydantic titles every field; providers ignore them and they double the prompt size.
    schema = dict(schema)
    schema.pop("title", None)
    props = schema.get("properties")
    if isinstance(props, dict):
        schema["properties"] = {
            k: {kk: vv for kk, vv in v.items() if kk != "title"} if isinstance(v, dict) else v
            for k, v in props.items()
        }
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    return schema
