"""``GET /api/memory/search``: Mastra's memory search (``@mastra/client-js`` ``searchMemory``).

Query: ``agentId``, ``searchQuery``, ``resourceId`` (required), ``threadId``, ``limit``
(default 20) and ``memoryConfig`` (JSON: ``semanticRecall`` / ``lastMessages``
overrides, as in Mastra's ``SEARCH_MEMORY_ROUTE``). Answer: ``{"results": [{id, role,
content, createdAt, threadId, threadTitle, context: {before, after}, score?}], "count",
"query", "searchScope", "searchType"}``, newest first.

Tenancy: under JWT the resource is always the token's subject (a ``resourceId`` naming
another is ignored, as for every memory route), and a ``threadId`` must be one of the
caller's threads (else 404). Semantic results come only from the resource's vectors,
and their neighbours only from the resource's messages.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from agents.memory_search import SearchHit, semantic_search, text_search
from agents.recall import text_of
from agents.recall_settings import semantic_recall_settings
from handlers.bodies import MAX_PER_PAGE, json_value
from handlers.errors import HTTPError
from handlers.routes._common import agent_or_404, caller_of, memory_of, owned_thread
from storage.records import Message
from storage.timeutil import to_iso

router = Router()  # type: ignore[no-untyped-call]

MAX_LIMIT = 100
MAX_QUERY_CHARS = 10_000


@router.get("/memory/search", summary="Search memory", tags=["Memory"])
def search_memory(
    agent_id: Annotated[str | None, Query(alias="agentId", description="the agent")] = None,
    search_query: Annotated[str | None, Query(alias="searchQuery",
                                              description="what to look for")] = None,
    resource_id: Annotated[str | None, Query(alias="resourceId",
                                             description="the resource searched")] = None,
    thread_id: Annotated[str | None, Query(alias="threadId",
                                           description="the thread (scope 'thread')")] = None,
    limit: Annotated[str | None, Query(description="most results (default 20)")] = None,
    memory_config: Annotated[str | None, Query(
        alias="memoryConfig", description="JSON: {semanticRecall, lastMessages} overrides")]
    = None,
) -> dict[str, Any]:
    """Messages of the resource similar to ``searchQuery``, with their neighbours."""
    caller = caller_of(router)
    if not agent_id:
        raise HTTPError(400, "agentId is required")
    query = (search_query or "").strip()
    if not query:
        raise HTTPError(400, "searchQuery is required")
    if len(query) > MAX_QUERY_CHARS:
        raise HTTPError(400, f"searchQuery must be at most {MAX_QUERY_CHARS} characters")
    resource = caller.resource(_given(resource_id))
    if not resource:
        raise HTTPError(400, "resourceId is required")
    most = _limit(limit)
    agent = agent_or_404(agent_id)
    settings_of = agent.memory
    if settings_of is None:
        raise HTTPError(400, "Memory is not initialized")
    memory = memory_of(agent.storage)
    thread = _given(thread_id)
    if thread is not None:
        owned = owned_thread(memory, thread, caller)
        if owned.resource_id != resource:
            raise HTTPError(404, "Thread not found")
    config = _memory_config(json_value("memoryConfig", memory_config))
    override = config.get("semanticRecall")
    settings = settings_of.semantic_recall if override is None else semantic_recall_settings(
        override, settings_of.semantic_recall)
    scope = settings.scope if settings is not None else "thread"
    answer: dict[str, Any] = {"results": [], "count": 0, "query": query,
                              "searchScope": scope,
                              "searchType": "semantic" if settings is not None else "text"}
    if settings is not None:
        if scope == "thread" and thread is None:
            raise HTTPError(400, "threadId is required when semanticRecall.scope is 'thread'")
        hits = semantic_search(agent, query, resource_id=resource, thread_id=thread,
                               settings=settings, limit=most)
    else:
        thread = thread or _latest_thread(memory, resource)
        if thread is None:
            return answer
        last = config.get("lastMessages", settings_of.last_messages)
        hits = text_search(agent, query, thread_id=thread, last_messages=_last(last),
                           before=2, after=2, limit=most)
    titles = {t: _title(memory, t) for t in {h.message.thread_id for h in hits}}
    answer["results"] = [_hit_json(h, titles[h.message.thread_id]) for h in hits]
    answer["count"] = len(answer["results"])
    return answer


def _hit_json(hit: SearchHit, thread_title: str | None) -> dict[str, Any]:
    """One result in Mastra's ``MemorySearchResult`` shape (plus ``score``)."""
    out = {**_brief(hit.message), "threadId": hit.message.thread_id,
           "threadTitle": thread_title or hit.message.thread_id,
           "context": {"before": [_brief(m) for m in hit.before],
                       "after": [_brief(m) for m in hit.after]}}
    if hit.score is not None:
        out["score"] = hit.score
    return out


def _brief(message: Message) -> dict[str, Any]:
    return {"id": message.id, "role": message.role, "content": text_of(message.content),
            "createdAt": to_iso(message.created_at)}


def _title(memory: Any, thread_id: str) -> str | None:
    thread = memory.get_thread(thread_id)
    return thread.title if thread is not None else None


def _latest_thread(memory: Any, resource_id: str) -> str | None:
    """The resource's most recently updated thread (Mastra searches it without a threadId)."""
    page = memory.list_threads(resource_id=resource_id, per_page=1, order_by="updated_at",
                               direction="desc")
    return page.items[0].id if page.items else None


def _given(value: str | None) -> str | None:
    # client-js sends "threadId=undefined"-style values when the caller passed none.
    return None if value in (None, "", "undefined", "null") else value


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return 20
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise HTTPError(400, f"limit must be an integer in 1..{MAX_LIMIT}")
    return int(raw)


def _memory_config(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise HTTPError(400, "memoryConfig must be a JSON object")
    return raw


def _last(value: Any) -> int:
    if value is False:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PER_PAGE:
        raise HTTPError(400, f"memoryConfig.lastMessages must be an integer in "
                             f"0..{MAX_PER_PAGE} or false")
    return value


__all__ = ["router"]
