"""``/api/agents``: list, details, generate (the stream has its own function)."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from agents.deadline import Deadline
from handlers._wiring import get_app
from handlers.bodies import GenerateBody
from handlers.errors import HTTPError
from handlers.observability import count
from handlers.routes._common import agent_or_404, caller_of, owned_thread, url_renderer
from handlers.shapes import BLOB_SCHEMES, message_json
from storage.keys import thread_attachment_prefix

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
    if caller.resource_id is not None:
        _check_blob_refs(body.messages, caller.resource_id)
    thread_id = body.thread_id_given
    memory = getattr(agent.storage, "memory", None)
    if caller.resource_id is not None and thread_id and memory is not None:
        thread = memory.get_thread(thread_id)
        if thread is not None:
            owned_thread(memory, thread_id, caller)
    return memory_arg


def _messages(body: GenerateBody) -> Any:
    return body.messages


def _check_blob_refs(messages: Any, resource_id: str) -> None:
    """Refuse blob URIs outside the tenant's attachments (the model would read them).

    Raises:
        HTTPError: 403 for a URI of another tenant, or not an attachment at all.
    """
    own = f"/{thread_attachment_prefix(resource_id, '_').rsplit('/', 2)[0]}/"
    for value in _strings(messages):
        if value.startswith(BLOB_SCHEMES) and own not in value:
            raise HTTPError(403, "a message references a blob outside your attachments")


def _strings(value: Any) -> Any:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
