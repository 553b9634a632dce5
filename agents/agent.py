"""``Agent``: instructions, a model, tools and memory; ``generate`` and ``stream``.

    >>> agent = Agent(id="assistant", instructions="Be brief.", model="local/echo")
    >>> agent.generate("hello").text
    'Echo: hello'
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.deadline import Deadline
from agents.events import Event
from agents.memory import Memory
from agents.models.base import Model, ToolCall, ToolResult, Usage
from agents.models.registry import resolve_model
from agents.processors.attachments import AttachmentUploader
from agents.processors.base import Processor
from agents.run import execute
from agents.tools import Tool, as_tool
from agents.turn import Turn, prepare
from storage.records import Message
from storage.timeutil import to_iso

if TYPE_CHECKING:
    from agents.app import App
    from agents.scorers import Scorer

log = logging.getLogger(__name__)

DEFAULT_MAX_STEPS = 5


@dataclass(frozen=True)
class GenerateResult:
    """The outcome of :meth:`Agent.generate` (and of a finished :class:`AgentStream`).

    Attributes:
        text: the final answer.
        messages: the turn's messages (user, then assistant), as saved when memory is on.
        usage: tokens summed over every step.
        finish_reason: ``stop``, ``length``, ``tool-calls`` (steps ran out)...
        run_id: the run's id (its workflow run and its spans carry it).
        thread_id: the thread, or ``None`` when nothing was stored.
        tool_calls: every tool call, in order.
        tool_results: every tool result, in order.
        resource_id: the resource, or ``None``.
        trace_id: the run's trace in ``observability``.
        replayed: ``True`` when this is a retry of a completed turn, answered from
            storage (no model call, nothing stored); see :mod:`agents.idempotency`.
    """

    text: str
    messages: list[Message]
    usage: Usage
    finish_reason: str
    run_id: str
    thread_id: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    resource_id: str | None = None
    trace_id: str | None = None
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Mastra's generate response shape (camelCase JSON)."""
        return {
            "text": self.text,
            "usage": self.usage.to_dict(),
            "finishReason": self.finish_reason,
            "runId": self.run_id,
            "threadId": self.thread_id,
            "resourceId": self.resource_id,
            "traceId": self.trace_id,
            "toolCalls": [
                {"toolCallId": c.id, "toolName": c.name, "args": c.args} for c in self.tool_calls
            ],
            "toolResults": [
                {"toolCallId": r.id, "toolName": r.name, "result": r.result, "isError": r.is_error}
                for r in self.tool_results
            ],
            "messages": [
                {"id": m.id, "role": m.role, "content": m.content, "type": m.type,
                 "createdAt": to_iso(m.created_at), "threadId": m.thread_id or None,
                 "resourceId": m.resource_id}
                for m in self.messages
            ],
        }


class AgentStream:
    """The events of a streamed run; an iterator (``for event in agent.stream(...)``).

    After the iteration ends, :attr:`result` holds the :class:`GenerateResult` (``None``
    if the run failed; the failure was the last event, of type ``error``).
    """

    def __init__(self, turn: Turn) -> None:
        self._turn = turn
        self._events = self._run()
        self.error: BaseException | None = None

    @property
    def run_id(self) -> str:
        """The run's id (known before the first event)."""
        return self._turn.run_id

    @property
    def thread_id(self) -> str | None:
        """The thread, or ``None`` when the call stores nothing."""
        return self._turn.context.thread_id

    @property
    def result(self) -> GenerateResult | None:
        """The result, once the stream is exhausted."""
        return self._turn.result

    def _run(self) -> Iterator[Event]:
        try:
            yield from execute(self._turn, streaming=True)
        except Exception as exc:
            # The error event was already yielded; a stream consumer reads it there.
            self.error = exc

    def __iter__(self) -> AgentStream:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        """Stop the run early (the generator is closed; nothing more is saved)."""
        self._events.close()  # type: ignore[attr-defined]

    def text(self) -> str:
        """Consume the stream and return the final text."""
        for _ in self:
            pass
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result.text


class Agent:
    """An AI agent.

    Args:
        id: a unique id (used in URLs, runs, spans, job payloads).
        instructions: the system prompt.
        model: ``"bedrock/<model-id>"``, ``"openai/<model>"``, ``"local/echo"`` or a
            :class:`~agents.models.Model`.
        tools: functions or :class:`~agents.tools.Tool` objects.
        memory: a :class:`Memory`; ``None`` means ``Memory()`` (recall and save when a
            call names a thread and a resource and the storage has a memory domain);
            ``False`` turns memory off.
        input_processors: run on the caller's new messages (after the built-in
            :class:`AttachmentUploader`, when a blob store exists).
        output_processors: see every stream event and the messages before they are saved.
        name: a display name (default: the id).
        description: what the agent is for.
        max_steps: model calls per run at most (tool loops end there).
        scorers: :class:`~agents.scorers.Scorer` objects run as background jobs.
        upload_attachments: set ``False`` to keep inline attachments inline.
    """

    def __init__(
        self,
        *,
        id: str,
        instructions: str = "",
        model: str | Model = "local/echo",
        tools: Sequence[Tool | Any] = (),
        memory: Memory | bool | None = None,
        input_processors: Sequence[Processor] = (),
        output_processors: Sequence[Processor] = (),
        name: str | None = None,
        description: str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        scorers: Sequence[Scorer] = (),
        upload_attachments: bool = True,
    ) -> None:
        if not isinstance(id, str) or not id.strip():
            raise ValueError("agent id must be a non-empty string")
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.id = id
        self.name = name or id
        self.description = description
        self.instructions = instructions
        self.model: Model = resolve_model(model)
        self.tools: dict[str, Tool] = {}
        for item in tools:
            t = as_tool(item)
            if t.name in self.tools:
                raise ValueError(f"agent {id!r} has two tools named {t.name!r}")
            self.tools[t.name] = t
        if memory is False:
            self.memory: Memory | None = None
        elif memory is None or memory is True:
            self.memory = Memory()
        elif isinstance(memory, Memory):
            self.memory = memory
        else:
            raise TypeError("memory must be a Memory, None or False")
        self._input_processors = list(input_processors)
        self.output_processors: list[Processor] = list(output_processors)
        self.max_steps = max_steps
        self.scorers = list(scorers)
        self.upload_attachments = upload_attachments
        self._app: App | None = None
        self._lock = threading.Lock()

    # --- wiring ---------------------------------------------------------------

    @property
    def app(self) -> App:
        """The :class:`App` this agent belongs to (a private one when used alone)."""
        with self._lock:
            if self._app is None:
                from agents.app import App

                App(agents=[self])
            assert self._app is not None
            return self._app

    def _bind(self, app: App) -> None:
        self._app = app

    @property
    def storage(self) -> Any:
        """The store memory uses: ``Memory(storage=...)``, else the app's, else ``None``."""
        if self.memory is not None and self.memory.storage is not None:
            return self.memory.storage
        return self.app.storage

    @property
    def recording_store(self) -> Any:
        """Where runs and spans go: the app's storage, else the agent's own."""
        return self.app.storage if self.app.storage is not None else self.storage

    def input_processors(self, store: Any = None) -> list[Processor]:
        """The input processors, the built-in :class:`AttachmentUploader` first if it applies."""
        builtin: list[Processor] = []
        has_uploader = any(isinstance(p, AttachmentUploader) for p in self._input_processors)
        if self.upload_attachments and not has_uploader and getattr(store, "blobs", None):
            builtin.append(AttachmentUploader())
        return [*builtin, *self._input_processors]

    def describe(self) -> dict[str, Any]:
        """The agent as ``GET /api/agents`` lists it."""
        provider, _, model_name = self.model.id.partition("/")
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "instructions": self.instructions,
            "modelId": self.model.id,
            "provider": provider if model_name else None,
            "tools": {t.name: t.describe() for t in self.tools.values()},
            "memory": self.memory.describe() if self.memory is not None else None,
            "maxSteps": self.max_steps,
        }

    # --- running ----------------------------------------------------------------

    def generate(
        self,
        messages: object,
        *,
        memory: Mapping[str, Any] | None = None,
        max_steps: int | None = None,
        run_id: str | None = None,
        timeout: float | Deadline | None = None,
    ) -> GenerateResult:
        """Run the agent to its final answer.

        With memory, give the user message an ``id`` to make the call safe to retry:
        a retry of a completed turn returns the stored answer (``replayed=True``; no
        model call, nothing stored), a retry while it runs raises
        :class:`~agents.idempotency.TurnInProgressError` (see :mod:`agents.idempotency`).

        Args:
            messages: a string, a list of strings, or Mastra / AI SDK message dicts.
            memory: ``{"thread": id | {"id", "title", "metadata"}, "resource": id}``.
            max_steps: overrides the agent's ``max_steps`` for this call.
            run_id: the run's id (default: a new UUID); one already used is refused.
            timeout: seconds the whole call may take, model calls included (or a
                :class:`~agents.deadline.Deadline` already running, such as a
                request's); when they are spent nothing is saved and
                :class:`~agents.deadline.DeadlineExceededError` is raised.

        Raises:
            ValidationError: malformed input.
            ThreadOwnershipError: the thread belongs to another resource.
            MessageIdConflictError: a message id of the call lives in another thread.
            TurnInProgressError: the same turn (same message id) is still running.
            DeadlineExceededError: ``timeout`` passed (the run is recorded as failed).
            ModelError: the model failed (the run is recorded as failed).
        """
        deadline = (timeout if isinstance(timeout, Deadline) or timeout is None
                    else Deadline.after(timeout))
        turn = prepare(self, messages, memory, max_steps, run_id, deadline)
        for _ in execute(turn, streaming=False):
            pass
        assert turn.result is not None
        return turn.result

    def stream(
        self,
        messages: object,
        *,
        memory: Mapping[str, Any] | None = None,
        max_steps: int | None = None,
        run_id: str | None = None,
    ) -> AgentStream:
        """Run the agent, yielding Mastra chunk events as they happen.

        Input errors (and a thread of another resource, or a ``run_id`` already used)
        raise here, before any event; a failure during the run is the stream's last
        event, of type ``error``. Every event carries ``run_id`` (default: a new UUID).
        """
        return AgentStream(prepare(self, messages, memory, max_steps, run_id))

    async def agenerate(self, messages: object, **kwargs: Any) -> GenerateResult:
        """:meth:`generate` in a worker thread."""
        return await asyncio.to_thread(self.generate, messages, **kwargs)

    async def astream(self, messages: object, **kwargs: Any) -> AsyncIterator[Event]:
        """:meth:`stream` as an async iterator (the sync stream runs in a worker thread)."""
        stream = await asyncio.to_thread(self.stream, messages, **kwargs)
        done = object()
        while True:
            event = await asyncio.to_thread(next, stream, done)
            if event is done:
                return
            yield event  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Agent(id={self.id!r}, model={self.model.id!r})"
