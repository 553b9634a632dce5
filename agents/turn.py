"""Preparing a run: everything that may refuse the call happens here, before any event.

Bad input, a malformed ``memory`` argument or a thread of another resource raise
from :func:`prepare`, so an HTTP handler can still answer with a 4xx. Preparation
creates the thread if needed, runs the input processors (attachments are uploaded
here), recalls the last messages and builds the system prompt and the tool set.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agents.memory import (
    WORKING_MEMORY_TOOL,
    ThreadRef,
    ensure_thread,
    parse_memory_arg,
    recall,
    working_memory_prompt,
)
from agents.messages import normalize_input, system_text
from agents.processors.base import Processor, ProcessorContext
from agents.recall import Recalled, prepare_recall
from agents.recording import RunRecorder
from agents.tools import Tool
from storage.errors import ValidationError
from storage.records import Message, Thread
from storage.timeutil import utcnow
from storage.validation import check_message

if TYPE_CHECKING:
    from agents.agent import Agent, GenerateResult


class _Clock:
    """Strictly increasing millisecond timestamps, so a turn's messages sort in order."""

    def __init__(self, after: datetime | None) -> None:
        self.last = after

    def next(self) -> datetime:
        now = utcnow()
        if self.last is not None and now <= self.last:
            now = self.last + timedelta(milliseconds=1)
        self.last = now
        return now


@dataclass
class Turn:
    """A prepared run: everything the step loop needs."""

    agent: Agent
    run_id: str
    ref: ThreadRef | None
    thread: Thread | None
    store: Any
    context: ProcessorContext
    user_messages: list[Message]
    history: list[Message]
    system: str
    tools: dict[str, Tool]
    recorder: RunRecorder
    max_steps: int
    clock: _Clock
    processors_out: list[Processor] = field(default_factory=list)
    result: GenerateResult | None = None
    recall: Recalled | None = None

    @property
    def memory_store(self) -> Any:
        """The memory domain when this call saves and recalls, else ``None``."""
        return getattr(self.store, "memory", None) if self.ref is not None else None


def prepare(agent: Agent, messages: object, memory: Mapping[str, Any] | None,
            max_steps: int | None) -> Turn:
    """Validate the call, create the thread if needed, run input processors, recall.

    Raises:
        ValidationError: malformed input or memory argument.
        ThreadOwnershipError: the thread belongs to another resource.
    """
    drafts = normalize_input(messages)
    for draft in drafts:
        # Refuse what storage would refuse before a thread is created for it.
        check_message(Message(id="unsaved", thread_id="unsaved", role=draft.role,
                              content=draft.content))
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                  or max_steps < 1):
        raise ValidationError(f"max_steps must be a positive integer, got {max_steps!r}")
    run_id = str(uuid.uuid4())
    store = agent.storage
    settings = agent.memory
    ref = parse_memory_arg(memory) if settings is not None else None
    memory_store: Any = getattr(store, "memory", None)
    if memory_store is None:
        ref = None
    assert ref is None or memory_store is not None
    # Semantic recall refuses a mismatched embedder before the thread is created.
    semantic = prepare_recall(agent, ref, drafts)
    thread = ensure_thread(memory_store, ref) if ref is not None else None
    history: list[Message] = []
    remembered: str | None = None
    if ref is not None and settings is not None:
        window = settings.last_messages if ref.last_messages is None else ref.last_messages
        history = recall(memory_store, ref.thread_id, window)
        if semantic is not None:
            history, remembered = semantic.merge(history, ref.thread_id,
                                                 [d.id for d in drafts if d.id], window=window)
    clock = _Clock(history[-1].created_at if history else None)
    context = ProcessorContext(
        agent_id=agent.id,
        run_id=run_id,
        thread_id=ref.thread_id if ref else None,
        resource_id=ref.resource_id if ref else None,
        storage=store,
    )
    user_messages = [
        Message(
            id=d.id or str(uuid.uuid4()),
            thread_id=ref.thread_id if ref else "",
            role=d.role,
            content=d.content,
            created_at=clock.next(),
            resource_id=ref.resource_id if ref else None,
        )
        for d in drafts
        if d.role != "system"
    ]
    for processor in agent.input_processors(store):
        user_messages = processor.process_input(user_messages, context)
    for message in user_messages:
        # A processor may have changed the content: check again before the model runs.
        check_message(replace(message, thread_id=message.thread_id or "unsaved"))

    system_parts = [agent.instructions, system_text(drafts), remembered]
    tools = dict(agent.tools)
    if ref is not None and settings is not None and settings.working_memory_template is not None:
        resource = memory_store.get_resource(ref.resource_id)
        stored = resource.working_memory if resource else None
        current = stored or settings.working_memory_template
        system_parts.append(working_memory_prompt(current))
        tools[WORKING_MEMORY_TOOL] = _working_memory_tool(memory_store, ref.resource_id)

    observability_store = agent.recording_store
    recorder = RunRecorder(
        agent_id=agent.id,
        agent_name=agent.name,
        run_id=run_id,
        workflows=getattr(observability_store, "workflows", None),
        observability=getattr(observability_store, "observability", None),
        resource_id=ref.resource_id if ref else None,
        thread_id=ref.thread_id if ref else None,
    )
    return Turn(
        agent=agent,
        run_id=run_id,
        ref=ref,
        thread=thread,
        store=store,
        context=context,
        user_messages=user_messages,
        history=history,
        system="\n\n".join(p for p in system_parts if p),
        tools=tools,
        recorder=recorder,
        max_steps=max_steps or agent.max_steps,
        clock=clock,
        processors_out=list(agent.output_processors),
        recall=semantic,
    )


def _working_memory_tool(memory_store: Any, resource_id: str) -> Tool:
    def update_working_memory(memory: str) -> dict[str, Any]:
        memory_store.update_resource(resource_id, working_memory=memory)
        return {"success": True}

    return Tool(
        update_working_memory,
        name=WORKING_MEMORY_TOOL,
        description="Replace the user's working memory with this complete markdown.",
    )


__all__ = ["Turn", "prepare"]
