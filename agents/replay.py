"""Replaying a completed turn: its stored answer as the events and result of a run.

A retry of a completed turn (:mod:`agents.idempotency`) answers what was stored, in
the shapes a live run has: ``generate`` gets the same :class:`GenerateResult` (with
``replayed=True``), ``stream`` the same Mastra chunk types. No model is called and
nothing is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agents.events import Event
from agents.models.base import ToolCall, ToolResult, Usage
from storage.records import Message
from storage.timeutil import to_iso

if TYPE_CHECKING:
    from agents.turn import Turn


def replay_stored(turn: Turn) -> Iterator[Event]:
    """A completed turn's events, rebuilt from its stored answer; sets ``turn.result``.

    One step per ``step-start`` part of the answer: its text as one ``text-delta``, its
    tool invocations as ``tool-call`` + ``tool-result``; usage and finish reasons come
    from the run's snapshot when it has them. No model call, no write, no job.
    """
    from agents.agent import GenerateResult

    assert turn.stored is not None
    answer, snapshot = turn.stored.answer, turn.stored.snapshot or {}
    steps = [s for s in snapshot.get("steps") or [] if isinstance(s, dict)]
    yield from turn.emit("start", {"agentId": turn.agent.id, "threadId": turn.context.thread_id,
                                   "resourceId": turn.context.resource_id})
    calls: list[ToolCall] = []
    results: list[ToolResult] = []
    groups = _steps_of(answer.content.get("parts") or [])
    for index, parts in enumerate(groups):
        recorded = steps[index] if index < len(steps) else {}
        reason = str(recorded.get("finishReason") or "stop")
        yield from turn.emit("step-start", {"messageId": answer.id, "request": {},
                                            "warnings": []})
        text = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
        if text:
            text_id = uuid.uuid4().hex[:12]
            yield from turn.emit("text-start", {"id": text_id})
            yield from turn.emit("text-delta", {"id": text_id, "text": text})
            yield from turn.emit("text-end", {"id": text_id})
        step_calls = []
        for part in parts:
            invocation = part.get("toolInvocation")
            if part.get("type") != "tool-invocation" or not isinstance(invocation, dict):
                continue
            call = ToolCall(str(invocation.get("toolCallId", "")),
                            str(invocation.get("toolName", "")), dict(invocation.get("args") or {}))
            value = invocation.get("result")
            result = ToolResult(call.id, call.name, value,
                                isinstance(value, dict) and value.get("isError") is True)
            step_calls.append(call)
            results.append(result)
            yield from turn.emit("tool-call", {"toolCallId": call.id, "toolName": call.name,
                                               "args": call.args})
            yield from turn.emit("tool-result", {
                "toolCallId": call.id, "toolName": call.name, "args": call.args,
                "result": result.result, "isError": result.is_error})
        calls.extend(step_calls)
        usage = recorded.get("usage") if isinstance(recorded.get("usage"), dict) else {}
        yield from turn.emit("step-finish", {
            "messageId": answer.id,
            "stepResult": {"reason": reason, "isContinued": index + 1 < len(groups),
                           "warnings": []},
            "output": {"text": text, "usage": usage, "toolCalls": [
                {"toolCallId": c.id, "toolName": c.name, "args": c.args} for c in step_calls]},
            "metadata": {},
        })
    total = sum((_usage(s.get("usage")) for s in steps), Usage())
    final_text = answer.content.get("content")
    if not isinstance(final_text, str):
        final_text = answer.text
    finish_reason = str(steps[-1].get("finishReason") or "stop") if steps else "stop"
    context = snapshot.get("context")
    trace_id = context.get("traceId") if isinstance(context, dict) else None
    turn.result = GenerateResult(
        text=final_text,
        messages=list(turn.stored.messages),
        usage=total,
        finish_reason=finish_reason,
        run_id=turn.run_id,
        thread_id=turn.context.thread_id,
        resource_id=turn.context.resource_id,
        tool_calls=calls,
        tool_results=results,
        trace_id=trace_id if isinstance(trace_id, str) else None,
        replayed=True,
    )
    yield from turn.emit("finish", {
        "stepResult": {"reason": finish_reason},
        "output": {"text": final_text, "usage": total.to_dict()},
        "metadata": {"threadId": turn.context.thread_id, "resourceId": turn.context.resource_id},
        "messages": {"nonUser": [message_json(answer)]},
    })


def _steps_of(parts: list[Any]) -> list[list[dict[str, Any]]]:
    """An answer's parts split at each ``step-start`` (one group at least)."""
    groups: list[list[dict[str, Any]]] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "step-start" or not groups:
            groups.append([])
        if part.get("type") != "step-start":
            groups[-1].append(part)
    return groups or [[]]


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    tokens = [raw.get("inputTokens"), raw.get("outputTokens")]
    return Usage(*(t if isinstance(t, int) and not isinstance(t, bool) else 0 for t in tokens))


def message_json(message: Message) -> dict[str, Any]:
    """A message as stream chunks carry it (``finish``'s ``messages.nonUser``)."""
    return {"id": message.id, "role": message.role, "content": message.content,
            "createdAt": to_iso(message.created_at), "threadId": message.thread_id or None,
            "resourceId": message.resource_id}


__all__ = ["message_json", "replay_stored"]
