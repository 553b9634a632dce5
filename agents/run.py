"""The step loop of a run, as a generator of stream events.

``generate`` and ``stream`` both drive :func:`execute`: each step calls the model,
runs the tools it asked for and feeds their results back, until the model answers
without tools or ``max_steps`` is reached. The turn is then saved in one
``save_messages`` call, the run recorded, and follow-up jobs (title, scorers) submitted.

The save is ``allow_move=False``: the caller's message ids may only create or change
messages of the thread the call names. A run with a deadline checks it before each
model call, after each step and before saving, so a run out of time saves nothing.
A retry of a completed turn (:mod:`agents.idempotency`) is replayed from storage as
the same events, with no model call and nothing written.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from agents.embed_jobs import embed_job
from agents.events import Event
from agents.messages import to_chat
from agents.models.base import (
    ChatMessage,
    Finish,
    ModelRequest,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolResult,
    Usage,
)
from agents.recording import clip
from agents.replay import message_json, replay_stored
from agents.tools import ToolContext
from agents.turn import Turn
from storage.errors import StorageError
from storage.records import Message
from storage.timeutil import utcnow

if TYPE_CHECKING:
    from agents.agent import Agent

log = logging.getLogger(__name__)


def execute(turn: Turn, *, streaming: bool) -> Iterator[Event]:
    """The step loop, as stream events. Sets ``turn.result`` before the ``finish`` event.

    Raises:
        Exception: whatever failed, after an ``error`` event (the caller decides).
    """
    from agents.agent import GenerateResult

    if turn.stored is not None:
        yield from replay_stored(turn)
        return
    agent, recorder = turn.agent, turn.recorder
    recorder.start(_input_text(turn.user_messages))
    yield from turn.emit("start", {"agentId": agent.id, "threadId": turn.context.thread_id,
                                   "resourceId": turn.context.resource_id})
    read_blob = _blob_reader(turn)
    chat: list[ChatMessage] = to_chat([*turn.history, *turn.user_messages], read_blob)
    assistant_id = turn.answer_id
    parts: list[dict[str, Any]] = []
    usage = Usage()
    calls: list[ToolCall] = []
    results: list[ToolResult] = []
    finish_reason = "stop"
    final_text = ""
    try:
        for step in range(1, turn.max_steps + 1):
            _check_deadline(turn, "a model call")
            yield from turn.emit("step-start", {"messageId": assistant_id, "request": {},
                                                "warnings": []})
            parts.append({"type": "step-start"})
            text, step_calls, finish = yield from _call_model(turn, chat, step, streaming)
            usage = usage + finish.usage
            if text:
                parts.append({"type": "text", "text": text})
            step_results = yield from _run_tools(turn, step_calls, step, parts)
            calls.extend(step_calls)
            results.extend(step_results)
            finish_reason = finish.finish_reason
            final_text = text
            recorder.step(step, text=text, finish_reason=finish_reason,
                          tool_calls=[c.name for c in step_calls], usage=finish.usage.to_dict())
            more = bool(step_calls) and step < turn.max_steps
            yield from turn.emit("step-finish", {
                "messageId": assistant_id,
                "stepResult": {"reason": finish_reason, "isContinued": more, "warnings": []},
                "output": {"text": text, "usage": finish.usage.to_dict(), "toolCalls": [
                    {"toolCallId": c.id, "toolName": c.name, "args": c.args} for c in step_calls]},
                "metadata": {},
            })
            if not step_calls:
                break
            chat.append(ChatMessage("assistant", (*([TextPart(text)] if text else []),
                                                  *step_calls)))
            chat.append(ChatMessage("tool", tuple(step_results)))
        # The model may have answered late (a provider that ignores the deadline):
        # nothing is saved after the time is spent, so a retry can run the turn anew.
        _check_deadline(turn, "the turn was saved")
        saved = _save(turn, assistant_id, parts, final_text)
    except GeneratorExit:
        # The consumer went away mid-run (a client disconnected): nothing is saved.
        recorder.finish(status="canceled", error={"message": "stream closed by the consumer"})
        raise
    except Exception as exc:
        log.warning("agent run failed agent=%s run_id=%s error=%s", agent.id, turn.run_id,
                    type(exc).__name__)
        error = {"message": str(exc), "name": type(exc).__name__}
        code = getattr(exc, "code", None)
        if isinstance(code, str):
            error["code"] = code
        recorder.finish(status="failed", error=error)
        yield Event("error", turn.run_id, {"error": error})
        raise
    assistant = [m for m in saved if m.role == "assistant"]
    recorder.finish(status="success", output={"text": clip(final_text)},
                    attributes={"usage": usage.to_dict(), "finishReason": finish_reason,
                                "model": agent.model.id})
    turn.result = GenerateResult(
        text=final_text,
        messages=saved,
        usage=usage,
        finish_reason=finish_reason,
        run_id=turn.run_id,
        thread_id=turn.context.thread_id,
        resource_id=turn.context.resource_id,
        tool_calls=calls,
        tool_results=results,
        trace_id=recorder.trace_id,
    )
    try:
        yield from turn.emit("finish", {
            "stepResult": {"reason": finish_reason},
            "output": {"text": final_text, "usage": usage.to_dict()},
            "metadata": {"threadId": turn.context.thread_id,
                         "resourceId": turn.context.resource_id},
            "messages": {"nonUser": [message_json(m) for m in assistant]},
        })
    finally:
        # After the finish event, even if the consumer stops right there (closes us).
        _submit_jobs(turn, final_text)


def _call_model(
    turn: Turn, chat: list[ChatMessage], step: int, streaming: bool
) -> Generator[Event, None, tuple[str, list[ToolCall], Finish]]:
    """One model call: its text as events; returns the text, the tool calls, the finish."""
    agent = turn.agent
    request = ModelRequest(tuple(chat), turn.system or None,
                           tuple(t.spec() for t in turn.tools.values()),
                           deadline=turn.deadline.at if turn.deadline else None)
    started = utcnow()
    text_id = uuid.uuid4().hex[:12]
    texts: list[str] = []
    calls: list[ToolCall] = []
    finish = Finish("stop")
    events = agent.model.stream(request) if streaming else _replay(agent, request)
    for event in events:
        if isinstance(event, TextDelta):
            if not texts:
                yield from turn.emit("text-start", {"id": text_id})
            texts.append(event.text)
            yield from turn.emit("text-delta", {"id": text_id, "text": event.text})
        elif isinstance(event, ToolCallEvent):
            calls.append(event.call)
        else:
            finish = event
    text = "".join(texts)
    if texts:
        yield from turn.emit("text-end", {"id": text_id})
    turn.recorder.child_span(
        f"llm: '{agent.model.id}'", "model_generation", started,
        input={"messages": len(chat), "tools": sorted(turn.tools)},
        output={"text": clip(text), "toolCalls": [c.name for c in calls]},
        attributes={"model": agent.model.id, "usage": finish.usage.to_dict(),
                    "finishReason": finish.finish_reason, "step": step},
    )
    return text, calls, finish


def _run_tools(
    turn: Turn, calls: list[ToolCall], step: int, parts: list[dict[str, Any]]
) -> Generator[Event, None, list[ToolResult]]:
    """Run a step's tool calls in order, as events; each becomes a tool-invocation part."""
    results: list[ToolResult] = []
    for call in calls:
        yield from turn.emit("tool-call", {"toolCallId": call.id, "toolName": call.name,
                                           "args": call.args})
        result = _run_tool(turn, call)
        results.append(result)
        yield from turn.emit("tool-result", {
            "toolCallId": call.id, "toolName": call.name, "args": call.args,
            "result": result.result, "isError": result.is_error})
        parts.append({"type": "tool-invocation", "toolInvocation": {
            "state": "result", "step": step - 1, "toolCallId": call.id,
            "toolName": call.name, "args": call.args, "result": result.result}})
    return results


def _replay(agent: Agent, request: ModelRequest) -> Iterator[Any]:
    response = agent.model.generate(request)
    if response.text:
        yield TextDelta(response.text)
    for call in response.tool_calls:
        yield ToolCallEvent(call)
    yield Finish(response.finish_reason, response.usage)


def _run_tool(turn: Turn, call: ToolCall) -> ToolResult:
    started = utcnow()
    tool = turn.tools.get(call.name)
    error: dict[str, Any] | None = None
    if tool is None:
        value: Any = {"error": f"unknown tool {call.name!r}", "isError": True}
        error = {"message": value["error"]}
    else:
        context = ToolContext(turn.agent.id, turn.run_id, turn.context.thread_id,
                              turn.context.resource_id, turn.store)
        try:
            value = tool.run(call.args, context)
        except Exception as exc:
            # The model sees the failure and may retry or explain; the run goes on.
            log.info("tool failed tool=%s run_id=%s error=%s", call.name, turn.run_id,
                     type(exc).__name__)
            value = {"error": f"{type(exc).__name__}: {exc}", "isError": True}
            error = {"message": str(exc), "name": type(exc).__name__}
    turn.recorder.child_span(f"tool: '{call.name}'", "tool_call", started, input=call.args,
                             output=None if error else value, error=error,
                             attributes={"toolCallId": call.id})
    return ToolResult(call.id, call.name, value, error is not None)


def _blob_reader(turn: Turn) -> Any:
    blobs = getattr(turn.store, "blobs", None)

    def read(uri: str) -> bytes | None:
        cached = turn.context.blob_cache.get(uri)
        if cached is not None:
            return cached
        if blobs is None:
            return None
        try:
            data: bytes = blobs.get(uri)
        except StorageError:
            log.warning("attachment unreadable uri=%s", uri)
            return None
        turn.context.blob_cache[uri] = data
        return data

    return read


def _save(turn: Turn, assistant_id: str, parts: list[dict[str, Any]], text: str) -> list[Message]:
    ref = turn.ref
    assistant = Message(
        id=assistant_id,
        thread_id=ref.thread_id if ref else "",
        role="assistant",
        content={"format": 2, "parts": parts, "content": text},
        created_at=turn.clock.next(),
        resource_id=ref.resource_id if ref else None,
    )
    out = [assistant]
    for processor in turn.agent.output_processors:
        out = processor.process_output_result(out, turn.context)
    messages = [*turn.user_messages, *out]
    if turn.memory_store is None:
        return messages
    started = utcnow()
    try:
        # One call: the turn is saved whole or not at all; never moving a message of
        # another thread (the ids may be the caller's).
        saved = list(turn.memory_store.save_messages(messages, allow_move=False))
    except Exception as exc:
        turn.recorder.memory_span("save", started, attributes={"messageCount": len(messages)},
                                  error={"message": str(exc), "name": type(exc).__name__})
        raise
    turn.recorder.memory_span("save", started, attributes={"messageCount": len(saved)})
    return saved


def _check_deadline(turn: Turn, before: str) -> None:
    if turn.deadline is not None:
        turn.deadline.check(before)


def _submit_jobs(turn: Turn, output_text: str) -> None:
    agent, ref = turn.agent, turn.ref
    jobs = agent.app.jobs
    payloads: list[dict[str, Any]] = []
    settings = agent.memory
    if (ref is not None and settings is not None and settings.title is not None
            and (turn.thread is None or not turn.thread.title)):
        payloads.append({"kind": "title", "agent": agent.id, "thread": ref.thread_id,
                         "resource": ref.resource_id})
    for scorer in agent.scorers:
        if random.random() < getattr(scorer, "sampling_rate", 1.0):
            payloads.append({
                "kind": "score", "agent": agent.id, "scorer": scorer.id, "run": turn.run_id,
                "trace": turn.recorder.trace_id, "span": turn.recorder.root_span_id,
                "thread": turn.context.thread_id, "resource": turn.context.resource_id,
                "input": clip(_input_text(turn.user_messages)), "output": clip(output_text),
            })
    embed = embed_job(agent, turn.recall, turn.result.messages if turn.result else [])
    if embed is not None and turn.memory_store is not None:
        payloads.append(embed)
    for payload in payloads:
        try:
            jobs.submit(payload)
        except Exception:
            log.exception("job submit failed kind=%s agent=%s", payload["kind"], agent.id)


def _input_text(messages: list[Message]) -> str:
    return "\n".join(m.text for m in messages if m.text)


__all__ = ["execute"]
