"""``Memory``: what an agent recalls and saves, thread titles and working memory.

With both a thread and a resource given, the last ``last_messages`` messages are
recalled and the turn's messages saved; with either missing nothing is stored. A
thread is created for its resource on first use; a thread owned by another resource
is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from storage.errors import ConflictError, ValidationError
from storage.records import Message, Thread
from storage.validation import check_id, check_metadata

log = logging.getLogger(__name__)

DEFAULT_WORKING_MEMORY_TEMPLATE = """# User Information
- **First Name**:
- **Last Name**:
- **Location**:
- **Occupation**:
- **Interests**:
- **Goals**:
- **Facts**:
"""

DEFAULT_TITLE_INSTRUCTIONS = (
    "Write a short title (at most 80 characters) for a conversation that starts with the "
    "user's message below. Summarise the message; no quotes, no colons, no trailing "
    "punctuation. Reply with the title only."
)

WORKING_MEMORY_TOOL = "updateWorkingMemory"
MAX_TITLE_LENGTH = 80


class ThreadOwnershipError(ConflictError):
    """The thread exists and belongs to another resource."""


@dataclass(frozen=True)
class TitleConfig:
    """How titles are generated: ``model`` (default: the agent's) and ``instructions``."""

    model: Any = None
    instructions: str = DEFAULT_TITLE_INSTRUCTIONS


class Memory:
    """An agent's memory settings.

    Args:
        last_messages: how many earlier messages of the thread the model sees
            (``0``/``False``: none).
        generate_title: ``True``, or ``{"model": ..., "instructions": ...}``, to title
            untitled threads in a background job after the answer.
        working_memory: ``True`` for the default template, a markdown template string,
            or ``False``. Stored per resource, injected into the system prompt and
            updated by the model through the ``updateWorkingMemory`` tool.
        storage: a store for this agent alone; default: the ``App``'s storage.
    """

    def __init__(
        self,
        *,
        last_messages: int | bool = 10,
        generate_title: bool | Mapping[str, Any] = False,
        working_memory: bool | str = False,
        storage: Any = None,
    ) -> None:
        if last_messages is False:
            last_messages = 0
        if isinstance(last_messages, bool) or not isinstance(last_messages, int) or (
            last_messages < 0
        ):
            raise ValueError(
                f"last_messages must be a non-negative int or False, got {last_messages!r}"
            )
        self.last_messages = last_messages
        self.title: TitleConfig | None = None
        if isinstance(generate_title, Mapping):
            unknown = set(generate_title) - {"model", "instructions"}
            if unknown:
                raise ValueError(
                    f"generate_title takes model and instructions, not {sorted(unknown)}"
                )
            self.title = TitleConfig(
                model=generate_title.get("model"),
                instructions=generate_title.get("instructions") or DEFAULT_TITLE_INSTRUCTIONS,
            )
        elif generate_title:
            self.title = TitleConfig()
        if working_memory is True:
            self.working_memory_template: str | None = DEFAULT_WORKING_MEMORY_TEMPLATE
        elif isinstance(working_memory, str) and working_memory.strip():
            self.working_memory_template = working_memory
        else:
            self.working_memory_template = None
        self.storage = storage

    @property
    def generate_title(self) -> bool:
        """Whether titles are generated."""
        return self.title is not None

    def describe(self) -> dict[str, Any]:
        """The settings as JSON (for ``GET /api/agents/{id}``)."""
        return {
            "lastMessages": self.last_messages,
            "generateTitle": self.generate_title,
            "workingMemory": {"enabled": self.working_memory_template is not None,
                              "scope": "resource"},
            "ownStorage": self.storage is not None,
        }


@dataclass(frozen=True)
class ThreadRef:
    """The ``thread`` and ``resource`` of a call, parsed."""

    thread_id: str
    resource_id: str
    title: str | None = None
    metadata: Mapping[str, Any] | None = None
    last_messages: int | None = None


def parse_memory_arg(memory: Mapping[str, Any] | None) -> ThreadRef | None:
    """Parse ``memory={"thread": id | {"id", "title", "metadata"}, "resource": id}``.

    ``threadId`` / ``resourceId`` are accepted too, and ``options: {"lastMessages": n}``
    overrides the agent's recall window for this call.

    Returns:
        ``None`` unless both a thread and a resource are given.

    Raises:
        ValidationError: a malformed thread or resource.
    """
    if not memory:
        return None
    if not isinstance(memory, Mapping):
        raise ValidationError("memory must be a dict with thread and resource")
    thread = memory.get("thread", memory.get("threadId"))
    resource = memory.get("resource", memory.get("resourceId"))
    if thread is None or resource is None:
        return None
    check_id(resource, "resource id")
    if isinstance(thread, Mapping):
        title = thread.get("title")
        if title is not None and not isinstance(title, str):
            raise ValidationError("thread title must be a string")
        metadata = thread.get("metadata")
        if metadata is not None:
            check_metadata(metadata, "thread metadata")
        return ThreadRef(check_id(thread.get("id"), "thread id"), resource, title, metadata,
                         _last_messages(memory))
    return ThreadRef(check_id(thread, "thread id"), resource,
                     last_messages=_last_messages(memory))


def _last_messages(memory: Mapping[str, Any]) -> int | None:
    """``options.lastMessages`` of a call (Mastra's per-call memory option), if given."""
    options = memory.get("options")
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise ValidationError("memory options must be an object")
    value = options.get("lastMessages", options.get("last_messages"))
    if value is None:
        return None
    if value is False:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"lastMessages must be a non-negative integer, got {value!r}")
    return value


def ensure_thread(memory_store: Any, ref: ThreadRef) -> Thread:
    """Get the thread, creating it for the resource when missing.

    Raises:
        ThreadOwnershipError: the thread belongs to another resource.
    """
    thread: Thread | None = memory_store.get_thread(ref.thread_id)
    if thread is None:
        try:
            # A conditional create: a racing turn of another resource cannot take the
            # thread over between the read and the write.
            return memory_store.save_thread(  # type: ignore[no-any-return]
                Thread(id=ref.thread_id, resource_id=ref.resource_id, title=ref.title,
                       metadata=dict(ref.metadata or {})),
                if_absent=True,
            )
        except ConflictError:
            thread = memory_store.get_thread(ref.thread_id)
            if thread is None:
                raise
    if thread.resource_id != ref.resource_id:
        raise ThreadOwnershipError(f"thread {ref.thread_id!r} belongs to another resource")
    changed = (ref.title is not None and ref.title != thread.title) or any(
        thread.metadata.get(k) != v for k, v in (ref.metadata or {}).items()
    )
    if changed:
        thread = memory_store.update_thread(ref.thread_id, title=ref.title, metadata=ref.metadata)
    return thread


def recall(memory_store: Any, thread_id: str, last_messages: int) -> list[Message]:
    """The thread's last ``last_messages`` messages, oldest first."""
    if last_messages <= 0:
        return []
    page = memory_store.list_messages(thread_id, per_page=last_messages, direction="desc")
    return list(reversed(page.items))


def working_memory_prompt(current: str) -> str:
    """The system prompt section that shows working memory and how to update it."""
    return (
        "You keep working memory about the user across conversations. Its current content:\n"
        f"<working_memory>\n{current}\n</working_memory>\n"
        f"When you learn something worth remembering, call {WORKING_MEMORY_TOOL} with the "
        "complete updated markdown (keep the template's structure). Do not mention it."
    )


def clean_title(text: str) -> str:
    """A title from a model's answer: first line, no quotes, at most 80 characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = line.strip("\"'`*# ").rstrip(".!")
    if len(line) > MAX_TITLE_LENGTH:
        line = line[: MAX_TITLE_LENGTH - 1].rstrip() + "…"
    return line
