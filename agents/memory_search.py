"""Searching a resource's memory (Mastra's ``GET /api/memory/search``).

With semantic recall on (for the agent, or in the request's ``memoryConfig``), the
query is embedded and the nearest messages of the resource (or of the thread, with
``scope="thread"``) are found in the vectors domain, each with up to
``messageRange`` neighbours from its own thread, all windows in one read
(``WindowReader.get_windows``, as a turn's recall reads them; DynamoDB: one
``BatchGetItem`` after the ``SearchVectors``). Without it, the search is a
case-insensitive text match over the thread's last ``lastMessages`` messages (Mastra
then answers the last messages of the thread, whatever the query; a match is what a
caller of a search expects). Results are newest first, as Mastra sorts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.recall import fetch_windows, text_of
from agents.recall_settings import SemanticRecall
from storage.errors import ValidationError
from storage.records import Message

if TYPE_CHECKING:
    from agents.agent import Agent


@dataclass(frozen=True)
class SearchHit:
    """One message the search found, with its neighbours in its thread.

    Attributes:
        message: the message.
        before: up to ``messageRange.before`` earlier messages of its thread, oldest first.
        after: up to ``messageRange.after`` later messages, oldest first.
        score: the cosine similarity to the query (``None`` for a text match).
    """

    message: Message
    before: list[Message]
    after: list[Message]
    score: float | None = None


def semantic_search(agent: Agent, query: str, *, resource_id: str, thread_id: str | None,
                    settings: SemanticRecall, limit: int = 20) -> list[SearchHit]:
    """The ``top_k`` messages of ``resource_id`` nearest to ``query``, newest first.

    Raises:
        ValidationError: no embedder or no vectors domain, or an embedder that differs
            from the index's.
        EmbedderError: the embedder failed.
    """
    store = agent.storage
    embedder = agent.memory.embedder if agent.memory is not None else None
    if embedder is None or getattr(store, "vectors", None) is None:
        raise ValidationError("semantic recall needs an embedder and a vectors domain")
    vector = embedder.embed([query])[0]
    scoped = thread_id if settings.scope == "thread" else None
    matches = store.vectors.search(vector, embedder=embedder.id, resource_id=resource_id,
                                   thread_id=scoped, top_k=settings.top_k,
                                   threshold=settings.threshold)
    if not matches:
        return []
    # Every match's window in one read (DynamoDB: one BatchGetItem), as a turn's recall
    # reads them; bounded by the resource.
    found = fetch_windows(store, matches, settings, resource_id=resource_id,
                          thread_id=thread_id or matches[0].thread_id)
    by_thread: dict[str, list[Message]] = {}
    for message in found:  # oldest first
        by_thread.setdefault(message.thread_id or "", []).append(message)
    hits = []
    for match in matches:
        window = by_thread.get(match.thread_id, [])
        at = next((i for i, m in enumerate(window) if m.id == match.message_id), None)
        if at is not None:  # else deleted since it was found
            # The union of a thread's windows holds each match's neighbours contiguously.
            hits.append(SearchHit(window[at], window[max(0, at - settings.before):at],
                                  window[at + 1:at + 1 + settings.after], match.score))
    return _newest_first(hits)[:limit]


def text_search(agent: Agent, query: str, *, thread_id: str, last_messages: int,
                before: int, after: int, limit: int = 20) -> list[SearchHit]:
    """The messages among the thread's last ``last_messages`` whose text holds ``query``."""
    if last_messages <= 0:
        return []
    page = agent.storage.memory.list_messages(thread_id, per_page=last_messages,
                                              direction="desc")
    window = list(reversed(page.items))
    needle = query.casefold()
    hits = [SearchHit(m, window[max(0, i - before):i], window[i + 1:i + 1 + after])
            for i, m in enumerate(window) if needle in text_of(m.content).casefold()]
    return _newest_first(hits)[:limit]


def _newest_first(hits: list[SearchHit]) -> list[SearchHit]:
    return sorted(hits, key=lambda h: (h.message.created_at, h.message.id), reverse=True)


__all__ = ["SearchHit", "semantic_search", "text_search"]
