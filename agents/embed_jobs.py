"""Embed jobs: the vectors semantic recall searches, computed after each turn.

After the turn is saved, an ``embed`` job (in-process locally, SQS on AWS, as titles
are) embeds the turn's user and assistant messages that have text, once each. The
query's vector is not computed twice: it is stored with the turn when the memory
domain can (``save_messages(..., vectors=...)``), else it travels in the job's payload
(:func:`embed_job`). Editing a message's text drops its vector (storage cascade);
:func:`reembed` queues it again, and on DynamoDB the edit marks it on its thread, so
the thread's next embed job re-embeds it by itself (a re-save of the same text keeps
the vector). :func:`backfill` queues a thread written before recall was on.

Recall at turn time (the search and the windows) is :mod:`agents.recall`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from storage.records import Message, MessageVector
from storage.vector_rules import EMBEDDED_ROLES, text_of

if TYPE_CHECKING:
    from agents.agent import Agent
    from agents.recall import Recalled

log = logging.getLogger(__name__)

EMBED_JOB = "embed"
BACKFILL_BATCH = 100  # message ids per job: an SQS body stays far under 256 KB


def query_vector(recalled: Recalled | None, saved: Sequence[Message]) -> Any:
    """The query's vector as a ``MessageVector`` of the user message it came from, or ``None``.

    Only when that message's stored text is exactly the embedded query (an input
    processor may have changed it).
    """
    if recalled is None or recalled.vector is None or recalled.query is None:
        return None
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
    "BACKFILL_BATCH",
    "EMBEDDED_ROLES",
    "EMBED_JOB",
    "backfill",
    "embed_job",
    "query_vector",
    "reembed",
    "run_embed_job",
]
