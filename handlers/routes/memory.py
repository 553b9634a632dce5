"""``/api/memory``: threads, their messages, working memory and the memory status."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from handlers.bodies import (
    AgentIdQ,
    CreateThreadBody,
    PageQ,
    PerPageQ,
    ResourceIdQ,
    UpdateThreadBody,
    WorkingMemoryBody,
    int_value,
    json_value,
    per_page_value,
    time_value,
)
from handlers.errors import HTTPError, not_found
from handlers.routes._common import (
    agent_or_404,
    caller_of,
    memory_of,
    owned_thread,
    response_budget,
    store_for,
    url_renderer,
)
from handlers.shapes import message_json, page_json, thread_json
from storage.errors import ConflictError
from storage.records import Include, Thread

router = Router()  # type: ignore[no-untyped-call]

_SORT_FIELDS = {"createdAt": "created_at", "updatedAt": "updated_at"}
# The one answer to a create whose id is taken, whoever took it.
THREAD_ID_IN_USE = "threadId is already in use"


@router.get("/memory/status", summary="Memory status", tags=["Memory"])
def memory_status(agent_id: AgentIdQ = None) -> dict[str, Any]:
    """``{"result": true}`` when the (agent's) storage has a memory domain."""
    store = store_for(agent_id)
    return {"result": getattr(store, "memory", None) is not None}


@router.get("/memory/threads", summary="List threads", tags=["Memory"])
def list_threads(
    agent_id: AgentIdQ = None,
    resource_id: ResourceIdQ = None,
    page: PageQ = None,
    per_page: PerPageQ = None,
    order_field: Annotated[str | None, Query(alias="orderBy[field]",
                                             description="createdAt or updatedAt")] = None,
    order_direction: Annotated[str | None, Query(alias="orderBy[direction]",
                                                 description="ASC or DESC")] = None,
    metadata: Annotated[str | None, Query(description="JSON object: top-level equality")] = None,
) -> dict[str, Any]:
    """Threads of a resource (the tenant's under JWT), paged and sorted."""
    caller = caller_of(router)
    memory = memory_of(store_for(agent_id))
    field = order_field or "createdAt"
    direction = (order_direction or "DESC").lower()
    if field not in _SORT_FIELDS:
        raise HTTPError(400, "orderBy[field] must be createdAt or updatedAt")
    if direction not in ("asc", "desc"):
        raise HTTPError(400, "orderBy[direction] must be ASC or DESC")
    filters = json_value("metadata", metadata)
    if filters is not None and not isinstance(filters, dict):
        raise HTTPError(400, "metadata must be a JSON object")
    result = memory.list_threads(
        resource_id=caller.resource(resource_id),
        metadata=filters,
        page=int_value("page", page),
        per_page=per_page_value(per_page, 100),
        order_by=_SORT_FIELDS[field],
        direction=direction,
    )
    return page_json("threads", result, thread_json, response_budget())


@router.post("/memory/threads", summary="Create a thread", tags=["Memory"])
def create_thread(body: Annotated[CreateThreadBody, Body()],
                  agent_id: AgentIdQ = None) -> dict[str, Any]:
    """Create a thread for a resource; an id in use is a 409 (nothing is overwritten).

    The 409 is the same whoever holds the id (the caller or another tenant) and says
    nothing about that thread. Thread ids are global (Mastra's schema), so a create
    can only learn that an id is taken; ids the server picks are random UUIDs.
    """
    caller = caller_of(router)
    memory = memory_of(store_for(agent_id))
    resource_id = caller.resource(body.resource_id)
    if not resource_id:
        raise HTTPError(400, "resourceId is required")
    thread = Thread(id=body.thread_id or str(uuid.uuid4()), resource_id=resource_id,
                    title=body.title, metadata=dict(body.metadata or {}))
    try:
        # One conditional write: two racing creates cannot both succeed.
        created = memory.save_thread(thread, if_absent=True)
    except ConflictError:
        if memory.get_thread(thread.id) is None:
            raise  # a write conflict to retry (DynamoDB), not a taken id
        raise HTTPError(409, THREAD_ID_IN_USE) from None
    return thread_json(created)


@router.get("/memory/threads/<thread_id>", summary="Get a thread", tags=["Memory"])
def get_thread(thread_id: str, agent_id: AgentIdQ = None) -> dict[str, Any]:
    """The thread, or 404."""
    memory = memory_of(store_for(agent_id))
    return thread_json(owned_thread(memory, thread_id, caller_of(router)))


@router.patch("/memory/threads/<thread_id>", summary="Update a thread", tags=["Memory"])
def update_thread(thread_id: str, body: Annotated[UpdateThreadBody, Body()],
                  agent_id: AgentIdQ = None) -> dict[str, Any]:
    """Set the title; merge metadata key by key."""
    memory = memory_of(store_for(agent_id))
    owned_thread(memory, thread_id, caller_of(router))
    return thread_json(memory.update_thread(thread_id, title=body.title, metadata=body.metadata))


@router.delete("/memory/threads/<thread_id>", summary="Delete a thread", tags=["Memory"])
def delete_thread(thread_id: str, agent_id: AgentIdQ = None) -> dict[str, Any]:
    """Delete the thread, its messages and their attachments."""
    memory = memory_of(store_for(agent_id))
    owned_thread(memory, thread_id, caller_of(router))
    memory.delete_thread(thread_id)
    return {"result": "Thread deleted"}


@router.get("/memory/threads/<thread_id>/messages", summary="List messages", tags=["Memory"])
def list_messages(
    thread_id: str,
    agent_id: AgentIdQ = None,
    page: PageQ = None,
    per_page: PerPageQ = None,
    order_by: Annotated[str | None, Query(
        alias="orderBy", description='JSON {"field": "createdAt", "direction": "ASC|DESC"}')]
    = None,
    include: Annotated[str | None, Query(
        description="JSON [{id, withPreviousMessages, withNextMessages}]")] = None,
    filter: Annotated[str | None, Query(
        description='JSON {"dateRange": {"start", "end", "startExclusive", "endExclusive"}} '
                    "(ISO timestamps, booleans)")] = None,
) -> dict[str, Any]:
    """A page of the thread's messages (``orderBy``, ``include``, ``filter`` as JSON)."""
    # The query is checked before the thread is looked up: the same 400 for any thread.
    direction = _message_direction(json_value("orderBy", order_by))
    dates = _date_range(json_value("filter", filter))
    windows = _includes(json_value("include", include))
    store = store_for(agent_id)
    memory = memory_of(store)
    thread = owned_thread(memory, thread_id, caller_of(router))
    result = memory.list_messages(
        thread_id,
        # The thread's resource bounds the include windows too: never another tenant's.
        resource_id=thread.resource_id,
        include=windows,
        **dates,
        page=int_value("page", page),
        per_page=per_page_value(per_page, 40),
        direction=direction,
    )
    render = url_renderer(store)
    # Paged by size too; include windows mix other messages in, so such a page is not
    # cut but refused when it is too big.
    return page_json("messages", result, lambda m: message_json(m, render), response_budget(),
                     exact_slice=not windows)


@router.get("/memory/threads/<thread_id>/working-memory", summary="Get working memory",
            tags=["Memory"])
def get_working_memory(thread_id: str, agent_id: AgentIdQ = None,
                       resource_id: ResourceIdQ = None) -> dict[str, Any]:
    """The resource's working memory and the agent's template."""
    caller = caller_of(router)
    memory = memory_of(store_for(agent_id))
    thread = memory.get_thread(thread_id)
    if thread is not None and not caller.owns(thread.resource_id):
        # Another tenant's thread answers exactly as a missing one: nothing tells the
        # caller it exists.
        thread = None
    owner = caller.resource(_given(resource_id)) or (thread.resource_id if thread else None)
    if thread is not None and owner != thread.resource_id:
        raise not_found("Thread")
    template = _template(agent_id)
    resource = memory.get_resource(owner) if owner else None
    return {
        "workingMemory": resource.working_memory if resource else None,
        "source": "resource",
        "workingMemoryTemplate": {"format": "markdown", "content": template} if template else None,
        "threadExists": thread is not None,
    }


@router.post("/memory/threads/<thread_id>/working-memory", summary="Update working memory",
             tags=["Memory"])
def update_working_memory(thread_id: str, body: Annotated[WorkingMemoryBody, Body()],
                          agent_id: AgentIdQ = None) -> dict[str, Any]:
    """Replace the working memory of the thread's resource."""
    caller = caller_of(router)
    memory = memory_of(store_for(agent_id))
    thread = owned_thread(memory, thread_id, caller)
    resource_id = caller.resource(body.resource_id) or thread.resource_id
    if resource_id != thread.resource_id:
        raise not_found("Thread")
    memory.update_resource(resource_id, working_memory=body.working_memory)
    return {"success": True}


def _given(value: str | None) -> str | None:
    # client-js sends "resourceId=undefined" when the caller passed none.
    return None if value in (None, "", "undefined", "null") else value


def _template(agent_id: str | None) -> str | None:
    if not agent_id:
        return None
    settings = agent_or_404(agent_id).memory
    return getattr(settings, "working_memory_template", None)


def _message_direction(order_by: Any) -> str:
    if order_by is None:
        return "asc"
    if not isinstance(order_by, dict):
        raise HTTPError(400, "orderBy must be a JSON object {field, direction}")
    if order_by.get("field", "createdAt") != "createdAt":
        raise HTTPError(400, "messages can only be ordered by createdAt")
    direction = str(order_by.get("direction", "ASC")).lower()
    if direction not in ("asc", "desc"):
        raise HTTPError(400, "orderBy.direction must be ASC or DESC")
    return direction


def _includes(raw: Any) -> list[Include]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise HTTPError(400, "include must be a JSON list of {id, withPreviousMessages, "
                             "withNextMessages}")
    out = []
    for item in raw:
        prev, nxt = item.get("withPreviousMessages", 0), item.get("withNextMessages", 0)
        if not isinstance(item.get("id"), str) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (prev, nxt)):
            raise HTTPError(400, "include items need a string id and non-negative counts")
        out.append(Include(item["id"], with_previous=prev, with_next=nxt))
    return out


_DATE_BOUNDS = {"start": "start", "end": "end"}
_DATE_FLAGS = {"startExclusive": "start_exclusive", "endExclusive": "end_exclusive"}


def _date_range(raw: Any) -> dict[str, Any]:
    """``filter``: ``{"dateRange": {start?, end?, startExclusive?, endExclusive?}}``.

    Returns the ``list_messages`` keyword arguments. Anything else (a number or a list
    for a date, an unknown key such as Mastra's ``roles``, which this server does not
    filter by) is a 400 naming it: a filter is never silently ignored.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise HTTPError(400, "filter must be a JSON object")
    for key in raw:
        if key != "dateRange":
            raise HTTPError(400, f"filter.{key[:40]} is not supported (only filter.dateRange)")
    dates = raw.get("dateRange")
    if dates is None:
        return {}
    if not isinstance(dates, dict):
        raise HTTPError(400, "filter.dateRange must be an object {start, end, startExclusive, "
                             "endExclusive}")
    out: dict[str, Any] = {}
    for key, value in dates.items():
        where = f"filter.dateRange.{key[:40]}"
        if key not in _DATE_BOUNDS and key not in _DATE_FLAGS:
            raise HTTPError(400, f"{where} is not supported")
        if value is None:  # JSON null: no bound
            continue
        if key in _DATE_BOUNDS:
            out[_DATE_BOUNDS[key]] = time_value(where, value)
        elif isinstance(value, bool):
            out[_DATE_FLAGS[key]] = value
        else:
            raise HTTPError(400, f"{where} must be true or false")
    return out
