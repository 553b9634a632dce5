"""A scripted model for tests: it answers with the responses it was given, in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.deadline import DeadlineExceededError, time_left
from agents.models.base import (
    BaseModel,
    Finish,
    FinishReason,
    ModelError,
    ModelEvent,
    ModelRequest,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from agents.models.echo import words


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text and/or tool calls ``(name, args)`` or :class:`ToolCall`.

    ``delay`` makes the call take that many seconds before its first event, bounded by
    the request's deadline as a real provider bounds its read timeout: a call cut by
    the deadline raises :class:`~agents.deadline.DeadlineExceededError`.
    """

    text: str = ""
    tool_calls: Sequence[ToolCall | tuple[str, dict[str, Any]]] = ()
    usage: Usage = field(default_factory=lambda: Usage(10, 5))
    finish_reason: FinishReason | None = None
    delay: float = 0.0


Script = str | Reply | Exception | Callable[[ModelRequest], "str | Reply"]


class ScriptedModel(BaseModel):
    """Replays ``script`` one entry per call and records every request in ``requests``.

    An entry is a string (the answer's text), a :class:`Reply` (text and tool calls),
    an exception (raised by the call) or a callable taking the request. When the
    script runs out, the last entry repeats.

    Args:
        script: the entries, in call order.
        model_id: the id reported by the model.
    """

    def __init__(self, script: Sequence[Script], *, model_id: str = "scripted") -> None:
        if not script:
            raise ValueError("ScriptedModel needs at least one scripted reply")
        self.id = model_id
        self.script = list(script)
        self.requests: list[ModelRequest] = []
        self._lock = threading.Lock()

    def _next(self, request: ModelRequest) -> Reply:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        entry = self.script[min(index, len(self.script) - 1)]
        if isinstance(entry, Exception):
            raise entry
        if callable(entry) and not isinstance(entry, Reply):
            entry = entry(request)
        return Reply(entry) if isinstance(entry, str) else entry

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        """Yield the scripted text word by word, then its tool calls and :class:`Finish`."""
        reply = self._next(request)
        if reply.delay > 0:
            left = time_left(request.deadline)
            time.sleep(reply.delay if left is None else min(reply.delay, left))
            if left is not None and left < reply.delay:
                raise DeadlineExceededError("the scripted model call ran out of time")
        for piece in words(reply.text):
            yield TextDelta(piece)
        calls: list[ToolCall] = []
        for n, call in enumerate(reply.tool_calls):
            if not isinstance(call, ToolCall):
                name, args = call
                call = ToolCall(id=f"call-{len(self.requests)}-{n}", name=name, args=dict(args))
            calls.append(call)
            yield ToolCallEvent(call)
        reason = reply.finish_reason or ("tool-calls" if calls else "stop")
        yield Finish(reason, reply.usage)


__all__ = ["ModelError", "Reply", "ScriptedModel"]
