"""The model interface every provider implements, and the provider-neutral message types.

The agent speaks to every model in these types; each provider module (``bedrock``,
``openai``, ``echo``, ``scripted``) translates them to its own wire format. A model
offers ``generate`` (one response) and ``stream`` (events as they arrive);
:class:`BaseModel` derives whichever one a provider does not implement natively.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "tool-calls", "content-filter", "error", "other"]


class ModelError(Exception):
    """A model call failed (after retries); the agent reports it as an ``error`` event.

    Attributes:
        code: the provider's error code (``throttlingException``, ``rate_limit``...), if any.
        retryable: whether the same request may succeed later.
    """

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


# --- content parts -----------------------------------------------------------------


@dataclass(frozen=True)
class TextPart:
    """Plain text."""

    text: str


@dataclass(frozen=True)
class FilePart:
    """A file (image, document...). ``data`` holds the bytes; ``uri`` the blob it lives in.

    A model that can read a blob by reference (Bedrock's ``s3Location``) may use
    ``uri``; every other model sends ``data``.
    """

    media_type: str
    data: bytes | None = None
    uri: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """The model asks for a tool to run."""

    id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned (or the error it raised, with ``is_error``)."""

    id: str
    name: str
    result: Any
    is_error: bool = False


Part = TextPart | FilePart | ToolCall | ToolResult


@dataclass(frozen=True)
class ChatMessage:
    """One message sent to a model. ``role`` is ``user``, ``assistant`` or ``tool``."""

    role: Literal["user", "assistant", "tool"]
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        """The text parts, joined."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass(frozen=True)
class ToolSpec:
    """A tool as a model sees it: a name, a description, a JSON schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class ModelRequest:
    """Everything one model call needs.

    ``deadline`` is an instant on ``time.monotonic()``'s clock the call must end by
    (``None``: no deadline). A provider bounds its read timeout and its retries by
    the time left (see :func:`agents.deadline.time_left`) and raises
    :class:`~agents.deadline.DeadlineExceededError` when the time is spent.
    """

    messages: tuple[ChatMessage, ...]
    system: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    deadline: float | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts of one call (or a sum of calls)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )

    def to_dict(self) -> dict[str, int]:
        """AI SDK v5's shape: ``inputTokens``, ``outputTokens``, ``totalTokens``."""
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.total_tokens,
        }


@dataclass(frozen=True)
class ModelResponse:
    """A complete answer of one model call."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    finish_reason: FinishReason = "stop"


# --- stream events -------------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    """A complete tool call (streamed argument fragments are assembled by the provider)."""

    call: ToolCall


@dataclass(frozen=True)
class Finish:
    """The call is over."""

    finish_reason: FinishReason
    usage: Usage = field(default_factory=Usage)


ModelEvent = TextDelta | ToolCallEvent | Finish


@runtime_checkable
class Model(Protocol):
    """A chat model. ``id`` is how it was named (``bedrock/<id>``, ``local/echo``)."""

    id: str

    def generate(self, request: ModelRequest) -> ModelResponse:
        """One complete response.

        Raises:
            ModelError: the call failed after any retries.
        """
        ...

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        """Text deltas and tool calls as they arrive, then exactly one :class:`Finish`.

        Raises:
            ModelError: the call failed (possibly after some events were yielded).
        """
        ...


class BaseModel:
    """Derives ``generate`` from ``stream`` and vice versa; a subclass overrides one or both."""

    id: str = "model"

    def generate(self, request: ModelRequest) -> ModelResponse:
        """Collect :meth:`stream` into one response."""
        return collect(self.stream(request))

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        """Replay :meth:`generate` as events."""
        response = self.generate(request)
        if response.text:
            yield TextDelta(response.text)
        for call in response.tool_calls:
            yield ToolCallEvent(call)
        yield Finish(response.finish_reason, response.usage)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"


def collect(events: Iterator[ModelEvent] | Sequence[ModelEvent]) -> ModelResponse:
    """Fold stream events into a :class:`ModelResponse`."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    finish = Finish("stop")
    for event in events:
        if isinstance(event, TextDelta):
            texts.append(event.text)
        elif isinstance(event, ToolCallEvent):
            calls.append(event.call)
        else:
            finish = event
    return ModelResponse("".join(texts), tuple(calls), finish.usage, finish.finish_reason)


def last_user_text(request: ModelRequest) -> str:
    """The text of the last user message of a request (``""`` if none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text
    return ""
