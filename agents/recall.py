"""Semantic recall: messages similar to the user's query, recalled from the vectors domain.

In a turn (called from :func:`agents.turn.prepare`, before anything is stored):

1. the text of the call's last user message is embedded (the query);
2. ``store.vectors.search`` finds the ``top_k`` nearest messages of the resource (or
   of the thread, ``scope="thread"``), dropping those under ``threshold``;
3. each match is fetched with its ``message_range`` neighbours in one
   ``get_windows([...], resource_id=R)`` call (a ``WindowReader``; elsewhere
   ``list_messages(..., resource_id=R, include=[...], per_page=0)``);
4. after the last-N window is read, recalled messages already in it are dropped;
   those of the current thread join the history in ``(created_at, id)`` order, those
   of other threads go into the system prompt in Mastra's
   ``<remembered_from_other_conversation>`` block (as Mastra's SemanticRecall
   processor places them: ``messageList.add(sameThread, 'memory')`` and
   ``messageList.addSystem(formatCrossThreadMessages(...), 'memory')``).

Embedding lifecycle (the ``embed`` jobs that give messages their vectors):
:mod:`agents.embed_jobs`, whose names stay importable from here.

Like Mastra, a failing embedder or vector search does not fail the turn (it is
logged and the turn runs on the last-N window); bad settings and an embedder whose
``(id, dimensions)`` differ from the index's are a ``ValidationError`` (HTTP 400).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.embed_jobs import (
    BACKFILL_BATCH,
    EMBED_JOB,
    EMBEDDED_ROLES,
    backfill,
    embed_job,
    query_vector,
    reembed,
    run_embed_job,
)
from agents.embedders.base import EmbedderError
from agents.memory import ThreadRef
from agents.messages import Draft
from agents.recall_settings import SemanticRecall
from storage.errors import StorageError, ValidationError
from storage.protocols import WindowReader
from storage.records import Include, Message, VectorMatch
from storage.vector_rules import text_of

if TYPE_CHECKING:
    from agents.agent import Agent

log = logging.getLogger(__name__)

@dataclass
class Recalled:
    """What semantic recall found for one turn.

    Attributes:
        settings: the settings the turn used.
        embedder: the embedder's id.
        resource_id: the resource searched.
        query: the query text (``None`` when the call had no user text).
        vector: the query's embedding (stored with the user message when possible).
        matches: what the vector search found, best first.
        messages: the recalled messages (matches and their windows), oldest first, once
            :meth:`merge` has fetched them.
    """

    settings: SemanticRecall
    embedder: str
    resource_id: str
    store: Any = None
    query: str | None = None
    vector: list[float] | None = None
    matches: list[VectorMatch] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    def merge(self, history: list[Message], thread_id: str, current_ids: Sequence[str] = (),
              *, window: int = 0) -> tuple[list[Message], str | None]:
        """Fetch the matches' windows and fold them into the turn.

        Args:
            history: the thread's last ``window`` messages, oldest first.
            thread_id: the turn's thread.
            current_ids: ids of the call's own messages (never recalled twice).
            window: how many messages ``history`` was asked for (fewer: the whole thread).

        Returns:
            The history with this thread's recalled messages in ``(created_at, id)``
            order, and the system prompt block holding other threads' (or ``None``).
        """
        if self.matches and self.store is not None:
            self.messages = fetch_windows(self.store, self.matches, self.settings,
                                          resource_id=self.resource_id, thread_id=thread_id,
                                          history=history, whole=len(history) < window)
        seen = {m.id for m in history} | set(current_ids)
        fresh = [m for m in self.messages if m.id not in seen]
        same = [m for m in fresh if m.thread_id == thread_id]
        other = [m for m in fresh if m.thread_id != thread_id]
        merged = sorted([*history, *same], key=lambda m: (m.created_at, m.id))
        return merged, (remembered_block(other) if other else None)


def prepare_recall(agent: Agent, ref: ThreadRef | None, drafts: Sequence[Draft]
                   ) -> Recalled | None:
    """Embed the query and search the vectors for a turn (``None``: recall is off).

    The matches' windows are fetched by :meth:`Recalled.merge`, once the last-N window
    is known (a window it already holds costs no read).

    Raises:
        ValidationError: semantic recall on with no embedder, or an embedder whose
            ``(id, dimensions)`` differ from the vector index's.
    """
    settings = agent.memory.recall_settings(ref) if agent.memory and ref else None
    if settings is None or ref is None:
        return None
    store = agent.storage
    if getattr(store, "vectors", None) is None or getattr(store, "memory", None) is None:
        log.warning("semantic recall is on but the store has no vectors domain agent=%s",
                    agent.id)
        return None
    embedder = agent.memory.embedder if agent.memory is not None else None
    if embedder is None:
        raise ValidationError("semantic recall needs an embedder: configure Memory(embedder=...) "
                              "or STOWAGE_EMBEDDER")
    recalled = Recalled(settings, embedder.id, ref.resource_id, store)
    users = [d for d in drafts if d.role == "user" and text_of(d.content)]
    if not users:
        return recalled
    recalled.query = text_of(users[-1].content)
    try:
        recalled.vector = embedder.embed([recalled.query])[0]
    except EmbedderError as exc:
        log.warning("semantic recall skipped: embedding failed agent=%s error=%s",
                    agent.id, exc)
        return recalled
    recalled.matches = search_matches(store, recalled.vector, embedder=embedder.id,
                                      settings=settings, resource_id=ref.resource_id,
                                      thread_id=ref.thread_id)
    return recalled


def search_matches(store: Any, vector: Sequence[float], *, embedder: str,
                   settings: SemanticRecall, resource_id: str, thread_id: str
                   ) -> list[VectorMatch]:
    """The vector search of a turn (``[]`` when the store fails: logged, as Mastra does).

    Raises:
        ValidationError: the search refused the vector or the settings.
    """
    try:
        found: list[VectorMatch] = store.vectors.search(
            vector, embedder=embedder, resource_id=resource_id,
            thread_id=thread_id if settings.scope == "thread" else None,
            top_k=settings.top_k, threshold=settings.threshold)
    except ValidationError:
        raise
    except StorageError as exc:
        log.warning("semantic recall skipped: vector search failed error=%s", type(exc).__name__)
        return []
    return found


def fetch_windows(store: Any, matches: Sequence[VectorMatch], settings: SemanticRecall, *,
                  resource_id: str, thread_id: str, history: Sequence[Message] = (),
                  whole: bool = False) -> list[Message]:
    """The matches with their ``messageRange`` neighbours, oldest first, in one read.

    A match of this thread whose window the last-N ``history`` already holds is not
    fetched again (``whole``: ``history`` is the entire thread).
    """
    held = {m.id: i for i, m in enumerate(history)}
    wanted = [m for m in matches
              if not (m.message_id in held and (whole or held[m.message_id] >= settings.before))]
    if not wanted:
        return []
    includes = [Include(m.message_id, with_previous=settings.before, with_next=settings.after)
                for m in wanted]
    if isinstance(store.memory, WindowReader):
        # The windows alone: no page, so no count of the thread (DynamoDB: one request).
        items = store.memory.get_windows(includes, resource_id=resource_id)
    else:
        items = store.memory.list_messages(thread_id, resource_id=resource_id,
                                           include=includes, per_page=0).items
    threads = {m.thread_id for m in wanted}
    # Defence in depth: a window never crosses into another tenant's messages, even on
    # a backend that does not bound include windows by resource yet.
    found = [m for m in items
             if m.resource_id == resource_id or (m.resource_id is None and m.thread_id in threads)]
    return sorted(found, key=lambda m: (m.created_at, m.id))


def find(store: Any, vector: Sequence[float], *, embedder: str, settings: SemanticRecall,
         resource_id: str, thread_id: str) -> tuple[list[Message], list[str]]:
    """The messages nearest to ``vector`` with their windows, oldest first, and the match ids.

    Raises:
        ValidationError: the search refused the vector or the settings.
    """
    matches = search_matches(store, vector, embedder=embedder, settings=settings,
                             resource_id=resource_id, thread_id=thread_id)
    return (fetch_windows(store, matches, settings, resource_id=resource_id,
                          thread_id=thread_id), [m.message_id for m in matches])


def remembered_block(messages: Sequence[Message]) -> str:
    """Other threads' recalled messages as Mastra formats them for the system prompt.

    Mastra's ``formatCrossThreadMessages``: a date line per day, then ``Message from
    previous conversation at <h:mm AM>: <Role>: <text>`` per message, inside
    ``<remembered_from_other_conversation>``.
    """
    lines: list[str] = []
    last_day = None
    for message in messages:
        when = message.created_at
        day = f"{when.year}, {when.strftime('%b')}, {when.day}"
        if day != last_day:
            lines.append(f"the following messages are from {day}")
            last_day = day
        hour = when.hour % 12 or 12
        clock = f"{hour}:{when.minute:02d} {'AM' if when.hour < 12 else 'PM'}"
        text = text_of(message.content) or "(no text)"
        lines.append(f"Message from previous conversation at {clock}: "
                     f"{message.role.capitalize()}: {text}")
    body = "\n".join(lines)
    return ("The following messages were remembered from a different conversation:\n"
            f"<remembered_from_other_conversation>\n{body}\n"
            "<end_remembered_from_other_conversation>")


__all__ = [
    "BACKFILL_BATCH",
    "EMBEDDED_ROLES",
    "EMBED_JOB",
    "Recalled",
    "backfill",
    "embed_job",
    "fetch_windows",
    "find",
    "prepare_recall",
    "query_vector",
    "reembed",
    "remembered_block",
    "run_embed_job",
    "search_matches",
    "text_of",
]
