"""Each agent run recorded: a workflow run in ``workflows``, spans in ``observability``.

The workflow run (``agent:<id>``) is written when the run starts (``running``) and
when it ends (``success``/``failed``/``canceled``), so a crashed run is visible. The
``running`` snapshot carries ``context.leaseExpiresAt`` (epoch ms): until then a retry
of the same turn is refused as in flight (:mod:`agents.idempotency`). Spans are
buffered and written in one ``create_spans`` call at the end: one request instead
of one per span. A run's trace is the ``agent_run`` root with, in order, ``memory:
recall`` (when the run recalls), one ``model_generation`` per step, a ``tool_call``
per tool call and ``memory: save`` (when the turn is saved): the tree Mastra
Studio draws. Recording never breaks a run: its failures are logged.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from agents.idempotency import DEFAULT_LEASE_SECONDS, lease_until
from storage.records import Span
from storage.timeutil import to_epoch_ms, utcnow

log = logging.getLogger(__name__)

MAX_RECORDED_TEXT = 10_000  # span and snapshot text is for reading, not replay


def clip(text: str) -> str:
    """``text`` cut to :data:`MAX_RECORDED_TEXT` characters."""
    return text if len(text) <= MAX_RECORDED_TEXT else text[:MAX_RECORDED_TEXT] + "…"


def new_span_id() -> str:
    """A 16-hex-digit span id (the OpenTelemetry size)."""
    return uuid.uuid4().hex[:16]


@dataclass
class RunRecorder:
    """Records one run. ``workflows`` / ``observability`` may be ``None`` (not recorded)."""

    agent_id: str
    agent_name: str
    run_id: str
    workflows: Any = None
    observability: Any = None
    resource_id: str | None = None
    thread_id: str | None = None
    trace_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    root_span_id: str = field(default_factory=new_span_id)
    started_at: datetime = field(default_factory=utcnow)
    steps: list[dict[str, Any]] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    input: Any = None
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    lease_expires_at: int | None = None
    turn_message_id: str | None = None

    @property
    def workflow_name(self) -> str:
        """``agent:<id>``."""
        return f"agent:{self.agent_id}"

    def start(self, input_text: str) -> None:
        """Write the ``running`` snapshot."""
        # The messages, as Mastra records an agent run's input (Studio shows them).
        self.input = [{"role": "user", "content": clip(input_text)}]
        self.lease_expires_at = lease_until(self.lease_seconds)
        self._persist("running")

    def child_span(
        self,
        name: str,
        span_type: str,
        started_at: datetime,
        *,
        input: Any = None,
        output: Any = None,
        error: Any = None,
        attributes: dict[str, Any] | None = None,
        ended_at: datetime | None = None,
        entity: tuple[str, str, str] | None = None,
    ) -> Span:
        """Buffer a finished child span of the run's root span.

        Args:
            ended_at: when it ended (default: now).
            entity: ``(type, id, name)`` when the span is another entity's (a memory
                operation is the memory's, as in Mastra), else the agent.
        """
        entity_type, entity_id, entity_name = entity or ("agent", self.agent_id, self.agent_name)
        span = Span(
            trace_id=self.trace_id,
            span_id=new_span_id(),
            parent_span_id=self.root_span_id,
            name=name,
            span_type=span_type,
            started_at=started_at,
            ended_at=ended_at or utcnow(),
            input=input,
            output=output,
            error=error,
            attributes=attributes or {},
            entity_type=entity_type,
            entity_id=entity_id,
            entity_name=entity_name,
            resource_id=self.resource_id,
            thread_id=self.thread_id,
            run_id=self.run_id,
        )
        self.spans.append(span)
        return span

    def memory_span(self, operation: str, started_at: datetime, *,
                    attributes: dict[str, Any], ended_at: datetime | None = None,
                    error: Any = None) -> Span:
        """Buffer a ``memory: <operation>`` span (``recall`` or ``save``), Mastra's
        ``memory_operation`` type, so a trace shows what the run read and wrote."""
        return self.child_span(
            f"memory: {operation}", "memory_operation", started_at,
            attributes={"operationType": operation, **attributes}, ended_at=ended_at,
            error=error, entity=("memory", "memory", "Memory"),
        )

    def step(self, number: int, *, text: str, finish_reason: str, tool_calls: list[str],
             usage: dict[str, int]) -> None:
        """Note a finished model step for the snapshot."""
        self.steps.append({
            "step": number,
            "text": clip(text),
            "finishReason": finish_reason,
            "toolCalls": tool_calls,
            "usage": usage,
        })

    def finish(self, *, status: str, output: Any = None, error: Any = None,
               attributes: dict[str, Any] | None = None) -> None:
        """Write the final snapshot and every span (root included)."""
        root = Span(
            trace_id=self.trace_id,
            span_id=self.root_span_id,
            name=f"agent run: '{self.agent_id}'",
            span_type="agent_run",
            started_at=self.started_at,
            ended_at=utcnow(),
            input=self.input,
            output=output,
            error=error,
            attributes=attributes or {},
            metadata={"runId": self.run_id},
            entity_type="agent",
            entity_id=self.agent_id,
            entity_name=self.agent_name,
            resource_id=self.resource_id,
            thread_id=self.thread_id,
            run_id=self.run_id,
        )
        self._persist(status, result=output, error=error)
        if self.observability is None:
            return
        try:
            self.observability.create_spans([root, *self.spans])
        except Exception:
            log.exception(
                "recording spans failed run_id=%s trace_id=%s", self.run_id, self.trace_id
            )

    def with_thread(self, thread_id: str | None, resource_id: str | None) -> RunRecorder:
        """The same recorder bound to a thread and resource."""
        return replace(self, thread_id=thread_id, resource_id=resource_id)

    def _persist(self, status: str, *, result: Any = None, error: Any = None) -> None:
        if self.workflows is None:
            return
        # Mastra's WorkflowRunState shape, so its playground lists agent runs too.
        snapshot: dict[str, Any] = {
            "runId": self.run_id,
            "status": status,
            "value": {},
            "context": {"input": self.input, "threadId": self.thread_id,
                        "resourceId": self.resource_id, "traceId": self.trace_id,
                        "messageId": self.turn_message_id,
                        "leaseExpiresAt": self.lease_expires_at},
            "activePaths": [],
            "suspendedPaths": {},
            "serializedStepGraph": [],
            "steps": self.steps,
            "timestamp": to_epoch_ms(utcnow()),
        }
        if result is not None:
            snapshot["result"] = result
        if error is not None:
            snapshot["error"] = error
        try:
            self.workflows.persist_snapshot(
                self.workflow_name, self.run_id, snapshot, resource_id=self.resource_id
            )
        except Exception:
            log.exception("recording run failed run_id=%s status=%s", self.run_id, status)
