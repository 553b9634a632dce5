"""What every route needs: the caller, the App, the store an agent uses, owned threads."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from handlers._wiring import get_app, settings
from handlers.auth import Caller
from handlers.errors import AuthError, HTTPError, not_found
from handlers.shapes import AttachmentLinks
from storage.records import Thread


def caller_of(router: Router) -> Caller:
    """The caller the api handler authenticated (put in the router's context).

    Raises:
        AuthError: no authenticated caller (a public route reading tenant data): fail
            closed rather than fall back to the all-seeing IAM caller.
    """
    found = router.context.get("caller")
    if not isinstance(found, Caller):
        raise AuthError("this route needs an authenticated caller")
    return found


def agent_or_404(agent_id: str) -> Any:
    """The agent with that id.

    Raises:
        HTTPError: 404 ``Agent not found``.
    """
    agent = get_app().agents.get(agent_id)
    if agent is None:
        raise not_found("Agent")
    return agent


def store_for(agent_id: str | None) -> Any:
    """The store memory routes use: the named agent's (its own or the app's), else the app's."""
    if agent_id:
        return agent_or_404(agent_id).storage
    return get_app().storage


def memory_of(store: Any) -> Any:
    """The memory domain of ``store``.

    Raises:
        HTTPError: 400 ``Memory is not initialized`` (Mastra's wording).
    """
    memory = getattr(store, "memory", None)
    if memory is None:
        raise HTTPError(400, "Memory is not initialized")
    return memory


def owned_thread(memory: Any, thread_id: str, caller: Caller) -> Thread:
    """The thread, if it exists and the caller may see it.

    Raises:
        HTTPError: 404 when missing or owned by another tenant (indistinguishable).
    """
    thread: Thread | None = memory.get_thread(thread_id)
    if thread is None or not caller.owns(thread.resource_id):
        raise not_found("Thread")
    return thread


def response_budget() -> int:
    """The bytes one answer may take (lists stop a page early to stay within it)."""
    return settings().max_response_bytes


def url_renderer(store: Any) -> AttachmentLinks | None:
    """Download links for ``store``'s attachments (the configured lifetime), or ``None``
    without a blob store."""
    blobs = getattr(store, "blobs", None)
    if blobs is None:
        return None
    return AttachmentLinks(blobs, settings().url_ttl)
