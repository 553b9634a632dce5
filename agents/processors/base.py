"""The processor protocol: hooks that see (and may change) a run's input and output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agents.events import Event
from storage.records import Message


@dataclass
class ProcessorContext:
    """What a processor may know about the run.

    Attributes:
        agent_id: the agent.
        run_id: the run.
        thread_id: the thread (``None`` when memory is off for this call).
        resource_id: the resource (``None`` when memory is off for this call).
        storage: the agent's store, or ``None``.
        blob_cache: blob URI -> bytes uploaded during this run, so the model gets the
            bytes without reading back what was just written.
    """

    agent_id: str
    run_id: str
    thread_id: str | None = None
    resource_id: str | None = None
    storage: Any = None
    blob_cache: dict[str, bytes] = field(default_factory=dict)


@runtime_checkable
class Processor(Protocol):
    """An input or output processor (Mastra's ``Processor``).

    Input processors run on the caller's new messages before anything is stored or
    sent; output processors see each stream event, then the assistant messages
    before they are stored. A processor may implement any subset: :class:`BaseProcessor`
    gives pass-through defaults.
    """

    id: str

    def process_input(self, messages: list[Message], context: ProcessorContext) -> list[Message]:
        """Return the (possibly changed) new messages of the turn."""
        ...

    def process_output_stream(self, event: Event, context: ProcessorContext) -> Event | None:
        """Return the event to emit (changed or not), or ``None`` to drop it."""
        ...

    def process_output_result(
        self, messages: list[Message], context: ProcessorContext
    ) -> list[Message]:
        """Return the assistant messages to store."""
        ...


class BaseProcessor:
    """Pass-through defaults for every hook of :class:`Processor`."""

    id = "processor"

    def process_input(self, messages: list[Message], context: ProcessorContext) -> list[Message]:
        """Leave the input as it is."""
        return messages

    def process_output_stream(self, event: Event, context: ProcessorContext) -> Event | None:
        """Leave the event as it is."""
        return event

    def process_output_result(
        self, messages: list[Message], context: ProcessorContext
    ) -> list[Message]:
        """Leave the result as it is."""
        return messages
