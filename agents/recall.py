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

Embedding lifecycle: after the turn is saved, an ``embed`` job (in-process locally, SQS
on AWS, as titles are) embeds the turn's user and assistant messages that have text,
once each. The query's vector is not computed twice: it is stored with the turn when
the memory domain can (``save_messages(..., vectors=...)``), else it travels in the
job's payload. Editing a message's text drops its vector (storage cascade);
:func:`reembed` queues it again, and on DynamoDB the edit marks it on its thread, so
the thread's next embed job re-embeds it by itself (a re-save of the same text keeps
the vector).

Like Mastra, a failing embedder or vector search does not fail the turn (it is
logged and the turn runs on the last-N window); bad settings and an embedder whose
``(id, dimensions)`` differ from the index's are a ``ValidationError`` (HTTP 400).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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

EMBED_JOB = "embed"
EMBEDDED_ROLES = ("user", "assistant")
BACKFILL_BATCH = 100  # message ids per job: an SQS body stays far under 256 KB


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


# --- embedding lifecycle ------------------------------------------------------------


def query_vector(recalled: Recalled | None, saved: Sequence[Message]) -> Any:
    """The query's vector as a ``MessageVector`` of the user message it came from, or ``None``.

    Only when that message's stored text is exactly the embedded query (an input
    processor may have changed it).
    """
    if recalled is None or recalled.vector is None or recalled.query is None:
        return None
    from storage.records import MessageVector

    for message in reversed(saved):
        if message.role == "user" and message.thread_id:
            if text_of(message.content) != recalled.query or not message.resource_id:
                return None
            return MessageVector(message_id=message.id, thread_id=message.thread_id,
                                 resource_id=message.resource_id,
                                 created_at=message.created_at,
                                 vector=tuple(recalled.vector), embedder=recalled.embedder)
    return None


def embed_job(agent: Agent, recalled: Recalled | None, saved: Sequence[Message],
              stored_with_turn: Any = None) -> dict[str, Any] | None:
    """The ``embed`` job payload for a saved turn, or ``None`` when nothing needs a vector.

    Args:
        agent: the agent.
        recalled: the turn's recall (``None``: semantic recall was off for the call, so,
            as in Mastra, its messages are not embedded).
        saved: the turn's saved messages.
        stored_with_turn: the ``MessageVector`` saved in the turn's own write, if any.
    """
    if recalled is None:
        return None
    wanted = [m for m in saved if m.role in EMBEDDED_ROLES and m.thread_id and text_of(m.content)]
    skip = stored_with_turn.message_id if stored_with_turn is not None else None
    ids = [m.id for m in wanted if m.id != skip]
    if not ids:
        return None
    first = wanted[0]
    payload: dict[str, Any] = {"kind": EMBED_JOB, "agent": agent.id, "thread": first.thread_id,
                               "resource": first.resource_id, "messages": ids}
    pending = query_vector(recalled, saved) if stored_with_turn is None else None
    if pending is not None and pending.message_id in ids:
        # Computed for the search already: never embedded twice.
        payload["vectors"] = [{"message": pending.message_id, "embedder": pending.embedder,
                               "vector": list(pending.vector)}]
    return payload


def run_embed_job(agent: Agent, payload: Mapping[str, Any]) -> int:
    """Embed the payload's messages and upsert their vectors; the worker calls this.

    Idempotent: a retried job upserts the same vectors again. Messages deleted or
    moved meanwhile are skipped (``upsert`` skips vectors whose message is gone).
    Messages of the same threads whose vector an edit dropped (a vector store with
    ``take_pending``: DynamoDB) are embedded too, in the same job.

    Returns:
        How many vectors were upserted.

    Raises:
        ValueError: a malformed payload.
        EmbedderError: the embedder failed (the queue retries the job).
        ValidationError: the embedder does not match the vector index.
    """
    ids = payload.get("messages")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise ValueError("embed job payload needs a list of message ids")
    store = agent.storage
    memory_store = getattr(store, "memory", None)
    vectors = getattr(store, "vectors", None)
    embedder = agent.memory.embedder if agent.memory is not None else None
    if memory_store is None or vectors is None or embedder is None or not ids:
        return 0
    given: dict[str, list[float]] = {}
    for item in payload.get("vectors") or []:
        # The query's vector, computed for the turn's search: reused if it fits.
        vector = item.get("vector") if isinstance(item, Mapping) else None
        if (isinstance(item, Mapping) and item.get("embedder") == embedder.id
                and isinstance(vector, list) and len(vector) == embedder.dimensions):
            given[str(item.get("message"))] = vector
    done, computed, threads = _embed(memory_store, vectors, embedder, ids, given)
    # Messages of these threads whose vector an edit dropped (DynamoDB marks them on the
    # thread; the upsert just read the marks): embedded now, so they are found again.
    take = getattr(vectors, "take_pending", None)
    again = [i for i in take(threads) if i not in ids] if callable(take) and threads else []
    if again:
        redone, more, _ = _embed(memory_store, vectors, embedder, again, {})
        done, computed = done | redone, computed + more
        never = sorted(set(again) - redone)  # gone, or no text to embed any more
        for thread_id in sorted(threads) if never else ():
            vectors.settle_pending(thread_id, never)
    log.info("messages embedded agent=%s count=%d computed=%d", agent.id, len(done), computed)
    return len(done)


def _embed(memory_store: Any, vectors: Any, embedder: Any, ids: Sequence[str],
           given: Mapping[str, list[float]]) -> tuple[set[str], int, set[str]]:
    """Embed and upsert the embeddable ones of ``ids``: (ids upserted, embeddings
    computed, their threads)."""
    messages = [m for m in memory_store.get_messages(list(ids))
                if m.role in EMBEDDED_ROLES and m.thread_id and m.resource_id
                and text_of(m.content)]
    todo = [m for m in messages if m.id not in given]
    fresh = embedder.embed([text_of(m.content) for m in todo]) if todo else []
    by_id = dict(zip([m.id for m in todo], fresh, strict=True))
    from storage.records import MessageVector

    records = [MessageVector(message_id=m.id, thread_id=m.thread_id, resource_id=m.resource_id,
                             created_at=m.created_at,
                             vector=tuple(by_id[m.id] if m.id in by_id else given[m.id]),
                             embedder=embedder.id)
               for m in messages]
    if records:
        vectors.upsert(records)
    return {m.id for m in messages}, len(todo), {m.thread_id for m in messages}


def reembed(agent: Agent, message_ids: Sequence[str]) -> None:
    """Queue ``embed`` jobs for these messages (after their text was edited), 100 per job."""
    ids = [i for i in message_ids if isinstance(i, str) and i]
    if not ids or agent.memory is None or agent.memory.embedder is None:
        return
    for start in range(0, len(ids), BACKFILL_BATCH):
        agent.app.jobs.submit({"kind": EMBED_JOB, "agent": agent.id,
                               "messages": ids[start:start + BACKFILL_BATCH]})


def backfill(agent: Agent, thread_id: str) -> int:
    """Queue ``embed`` jobs for every user and assistant message of a thread.

    For threads written before semantic recall was turned on (or by another writer):
    their messages have no vectors, so nothing of them can be recalled until embedded.
    Re-embedding a message that has a vector replaces it with the same one.

    Returns:
        How many messages were queued.
    """
    store = getattr(agent.storage, "memory", None)
    if store is None:
        return 0
    messages = store.list_messages(thread_id, per_page=None).items
    ids = [m.id for m in messages if m.role in EMBEDDED_ROLES and text_of(m.content)]
    reembed(agent, ids)
    return len(ids)


__all__ = [
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
