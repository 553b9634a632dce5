"""Preparing a run: everything that may refuse the call happens here, before any event.

Bad input, a malformed ``memory`` argument, a thread of another resource or a retry
of a turn still running raise from :func:`prepare`, so an HTTP handler can still
answer with a 4xx. Preparation creates the thread if needed, looks up an earlier
attempt of the turn when the caller gave its message an id (:mod:`agents.idempotency`;
a completed one is replayed, nothing more is prepared), runs the input processors
(attachments are uploaded here), recalls the last messages and builds the system
prompt and the tool set.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agents.deadline import Deadline
from agents.events import Event
from agents.idempotency import (
    DEFAULT_LEASE_SECONDS,
    LEASE_MARGIN_SECONDS,
    StoredTurn,
    check_message_ids,
    find_stored_turn,
    turn_ids,
    turn_key,
)
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
from storage.validation import check_id, check_message

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
    answer_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: Deadline | None = None
    stored: StoredTurn | None = None
    processors_out: list[Processor] = field(default_factory=list)
    result: GenerateResult | None = None
    recall: Recalled | None = None

    def emit(self, kind: str, payload: dict[str, Any]) -> Iterator[Event]:
        """The event ``kind``, as the output processors let it through (or nothing)."""
        event: Event | None = Event(kind, self.run_id, payload)
        for processor in self.processors_out:
            if event is None:
                return
            event = processor.process_output_stream(event, self.context)
        if event is not None:
            yield event

    @property
    def memory_store(self) -> Any:
        """The memory domain when this call saves and recalls, else ``None``."""
        return getattr(self.store, "memory", None) if self.ref is not None else None


def prepare(agent: Agent, messages: object, memory: Mapping[str, Any] | None,
            max_steps: int | None, run_id: str | None = None,
            deadline: Deadline | None = None) -> Turn:
    """Validate the call, create the thread if needed, run input processors, recall.

    Args:
        run_id: the caller's id for this run (Mastra Studio sends its own); default a
            new UUID. It names the workflow run, so it must be a valid id.

    Raises:
        ValidationError: malformed input or memory argument.
        ThreadOwnershipError: the thread belongs to another resource.
        TurnInProgressError: an attempt of the same turn is still running.
        MessageIdConflictError: a message id of the call lives in another thread.
        DeadlineExceededError: the deadline passed while preparing.
    """
    prepared_at = utcnow()  # the run starts here: its recall span is inside it
    drafts = normalize_input(messages)
    for draft in drafts:
        # Refuse what storage would refuse before a thread is created for it.
        check_message(Message(id="unsaved", thread_id="unsaved", role=draft.role,
                              content=draft.content))
        if draft.id is not None:
            check_id(draft.id, "message id")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                  or max_steps < 1):
        raise ValidationError(f"max_steps must be a positive integer, got {max_steps!r}")
    caller_run_id = run_id is not None
    if run_id is not None:
        check_id(run_id, "run_id")
    store = agent.storage
    settings = agent.memory
    ref = parse_memory_arg(memory) if settings is not None else None
    memory_store: Any = getattr(store, "memory", None)
    if memory_store is None:
        ref = None
    assert ref is None or memory_store is not None
    # Semantic recall refuses a mismatched embedder before the thread is created.
    semantic = prepare_recall(agent, ref, drafts)
    turned = [d for d in drafts if d.role != "system"]
    given = [d.id for d in turned if d.id]
    key = turn_key(agent.id, ref.thread_id, [d.id for d in turned]) if ref else None
    run_id = run_id or (key.run_id if key else str(uuid.uuid4()))
    message_ids = [
        d.id or (key.message_id_at(n) if key else str(uuid.uuid4()))
        for n, d in enumerate(turned)
    ]
    found = None
    if ref is not None and given:
        # One read, before anything is stored or the model runs: a caller's message id
        # that lives in another thread refuses the call (the save's condition still
        # holds against a racing request). The idempotency lookup reuses it.
        found = check_message_ids(memory_store, ref.thread_id,
                                  turn_ids(key, message_ids, given))
    # Then the thread: its owner is checked before anything of it is replayed.
    thread = ensure_thread(memory_store, ref) if ref is not None else None
    observability_store = agent.recording_store
    workflows = getattr(observability_store, "workflows", None)
    stored = None
    if key is not None or caller_run_id:
        # One read more: an earlier attempt of this turn, or a caller's run id in use.
        stored = find_stored_turn(key, message_ids, run_id=run_id, caller_named=caller_run_id,
                                  workflows=workflows, memory=memory_store, stored=found)
    lease = (DEFAULT_LEASE_SECONDS if deadline is None
             else deadline.remaining() + LEASE_MARGIN_SECONDS)
    recorder = RunRecorder(
        agent_id=agent.id,
        agent_name=agent.name,
        run_id=run_id,
        workflows=workflows,
        observability=getattr(observability_store, "observability", None),
        resource_id=ref.resource_id if ref else None,
        thread_id=ref.thread_id if ref else None,
        started_at=prepared_at,
        lease_seconds=lease,
        turn_message_id=key.message_id if key else None,
    )
    context = ProcessorContext(
        agent_id=agent.id,
        run_id=run_id,
        thread_id=ref.thread_id if ref else None,
        resource_id=ref.resource_id if ref else None,
        storage=store,
    )
    answer_id = key.answer_id if key else str(uuid.uuid4())
    if stored is not None:
        # A retry of a completed turn: replayed from storage, nothing else is needed.
        return Turn(agent=agent, run_id=run_id, ref=ref, thread=thread, store=store,
                    context=context, user_messages=stored.messages[:-1], history=[],
                    system="", tools={}, recorder=recorder, max_steps=0,
                    clock=_Clock(None), answer_id=answer_id, deadline=deadline,
                    stored=stored)
    if deadline is not None:
        deadline.check("the model was called")
    history: list[Message] = []
    recalled_block: str | None = None
    if ref is not None and settings is not None:
        window = settings.last_messages if ref.last_messages is None else ref.last_messages
        recall_started = utcnow()
        history = recall(memory_store, ref.thread_id, window)
        if semantic is not None:
            history, recalled_block = semantic.merge(history, ref.thread_id,
                                                     [d.id for d in drafts if d.id],
                                                     window=window)
        recorder.memory_span("recall", recall_started, ended_at=utcnow(),
                             attributes={"lastMessages": window, "messageCount": len(history)})
    clock = _Clock(history[-1].created_at if history else None)
    user_messages = [
        Message(
            id=message_id,
            thread_id=ref.thread_id if ref else "",
            role=d.role,
            content=d.content,
            created_at=clock.next(),
            resource_id=ref.resource_id if ref else None,
        )
        for message_id, d in zip(message_ids, turned, strict=True)
    ]
    for processor in agent.input_processors(store):
        user_messages = processor.process_input(user_messages, context)
    for message in user_messages:
        # A processor may have changed the content: check again before the model runs.
        check_message(replace(message, thread_id=message.thread_id or "unsaved"))

    system_parts = [agent.instructions, system_text(drafts), recalled_block]
    tools = dict(agent.tools)
    if ref is not None and settings is not None and settings.working_memory_template is not None:
        resource = memory_store.get_resource(ref.resource_id)
        working = resource.working_memory if resource else None
        current = working or settings.working_memory_template
        system_parts.append(working_memory_prompt(current))
        tools[WORKING_MEMORY_TOOL] = _working_memory_tool(memory_store, ref.resource_id)

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
        answer_id=answer_id,
        deadline=deadline,
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
