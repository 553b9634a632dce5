"""``/api/agents``: list, details, generate (the stream has its own function)."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from agents.deadline import Deadline
from agents.messages import is_inline, normalize_input
from handlers._wiring import get_app
from handlers.bodies import GenerateBody
from handlers.errors import HTTPError
from handlers.observability import count
from handlers.routes._common import agent_or_404, caller_of, owned_thread, url_renderer
from handlers.shapes import message_json
from storage.blob_uris import attachment_key_of
from storage.errors import ValidationError

log = logging.getLogger(__name__)
router = Router()  # type: ignore[no-untyped-call]


@router.get("/agents", summary="List agents", tags=["Agents"])
def list_agents() -> dict[str, Any]:
    """Every agent's details, keyed by id (what ``client.listAgents()`` returns)."""
    return {agent.id: agent.describe() for agent in get_app().agents.values()}


@router.get("/agents/<agent_id>", summary="Agent details", tags=["Agents"])
def get_agent(agent_id: str) -> dict[str, Any]:
    """One agent's details: name, instructions, model, tools, memory settings."""
    return dict(agent_or_404(agent_id).describe())


# What a deployed function keeps for itself after the deadline: saving the turn,
# recording the run and answering (its own timeout would cut all of them).
LAMBDA_MARGIN_SECONDS = 3.0


def request_deadline(config: Any, lambda_context: Any) -> Deadline:
    """A request's deadline: ``STOWAGE_REQUEST_TIMEOUT`` from now, or sooner when the
    function's own time (less :data:`LAMBDA_MARGIN_SECONDS`) ends first."""
    seconds = float(config.request_timeout)
    remaining_ms = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        seconds = min(seconds, remaining_ms() / 1000 - LAMBDA_MARGIN_SECONDS)
    return Deadline(time.monotonic() + seconds)


@router.post("/agents/<agent_id>/generate", summary="Generate a response", tags=["Agents"])
def generate(agent_id: str, body: Annotated[GenerateBody, Body()]) -> dict[str, Any]:
    """Run the agent to its final answer; with a thread and a resource the turn is saved.

    The run has the request's deadline (``STOWAGE_REQUEST_TIMEOUT``, model calls
    included): past it the answer is a 504 ``{"error", "retryable": true}`` and nothing
    is saved. With a user message ``id`` the turn is idempotent: a retry of a completed
    turn answers the stored turn, a retry while it runs a 409 (``retryable``).
    """
    agent = agent_or_404(agent_id)
    found = router.context.get("deadline")
    deadline = found if isinstance(found, Deadline) else None
    memory_arg = prepare_memory(agent, body, caller_of(router))
    result = agent.generate(_messages(body), memory=memory_arg, max_steps=body.max_steps,
                            run_id=body.run_id, timeout=deadline)
    count("Generations")
    out: dict[str, Any] = result.to_dict()
    render = url_renderer(agent.storage)
    out["messages"] = [message_json(m, render) for m in result.messages]
    return out


def prepare_memory(agent: Any, body: GenerateBody, caller: Any) -> dict[str, Any] | None:
    """The ``memory=`` argument, with the tenant's resource forced under JWT auth.

    Raises:
        HTTPError: 404 when the thread exists and belongs to another tenant.
    """
    memory_arg = body.memory_arg(caller.resource_id)
    _check_blob_refs(body.messages, caller.resource(body.resource_given),
                     getattr(agent.storage, "blobs", None))
    thread_id = body.thread_id_given
    memory = getattr(agent.storage, "memory", None)
    if caller.resource_id is not None and thread_id and memory is not None:
        thread = memory.get_thread(thread_id)
        if thread is not None:
            owned_thread(memory, thread_id, caller)
    return memory_arg


def _messages(body: GenerateBody) -> Any:
    return body.messages


def _check_blob_refs(messages: Any, resource_id: str | None, blobs: Any) -> None:
    """Refuse blob URIs that are not the turn's resource's attachments.

    The model would read them (``file`` parts, ``experimental_attachments``) and the
    answer would sign them. Each reference is parsed by the blob store's own
    ``key_of``, the parser its reads use, and its key compared with the resource's
    attachment prefix (``storage.blob_uris.attachment_key_of``): no query, fragment,
    case or encoding can make another tenant's blob look like one's own. Checked:
    every reference the model would read (not inline bytes, not a public http(s)
    URL), and any other string of the messages that is one of the store's URIs.
    A turn with no resource may reference no blob at all.

    Raises:
        HTTPError: 403 for a reference outside the resource's attachments.
    """
    read = _model_references(messages)
    for value in [*read, *_strings(messages)]:
        if value not in read and not _is_store_uri(blobs, value):
            continue  # text that only mentions a URI of no store here: the model reads text
        try:
            if blobs is None or resource_id is None:
                raise ValidationError("no resource owns attachments in this call")
            attachment_key_of(blobs, value, resource_id)
        except ValidationError:
            raise HTTPError(403, "a message references a blob outside your attachments "
                                 "(send the uri an upload or an earlier answer gave)") from None


def _model_references(messages: Any) -> set[str]:
    """Every URL the model would fetch from the blob store, as the agent reads messages."""
    found: set[str] = set()
    for draft in normalize_input(messages):
        content = draft.content
        values = [p.get("data") for p in content.get("parts") or []
                  if isinstance(p, dict) and p.get("type") == "file"]
        values += [a.get("url") for a in content.get("experimental_attachments") or []
                   if isinstance(a, dict)]
        found.update(v for v in values if isinstance(v, str) and not is_inline(v)
                     and not v.startswith(("http://", "https://")))
    return found


def _is_store_uri(blobs: Any, value: str) -> bool:
    if blobs is None or "://" not in value:
        return False
    try:
        blobs.key_of(value)
    except ValidationError:
        return False
    return True


def _strings(value: Any) -> Any:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
