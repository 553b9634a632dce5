"""Thread titles, generated in a background job after the answer."""

from __future__ import annotations

import logging

from agents.agent import Agent
from agents.memory import clean_title
from agents.models.base import ChatMessage, Model, ModelRequest, TextPart
from agents.models.registry import resolve_model
from storage.errors import NotFoundError

log = logging.getLogger(__name__)


def write_title(agent: Agent, thread_id: str, resource_id: str) -> str | None:
    """Title the thread from its first user message, unless it already has a title.

    Idempotent: a retried job, or one racing a user's rename, leaves an existing
    title alone (the thread is re-read right before the write).

    Returns:
        The new title, or ``None`` when there was nothing to do.

    Raises:
        NotFoundError: the thread is gone or belongs to another resource.
        ModelError: the title model failed.
    """
    if agent.memory is None or agent.memory.title is None:
        return None
    memory_store = getattr(agent.storage, "memory", None)
    if memory_store is None:
        return None
    thread = memory_store.get_thread(thread_id)
    if thread is None or thread.resource_id != resource_id:
        raise NotFoundError(f"thread {thread_id!r} of resource {resource_id!r} not found")
    if thread.title:
        return None
    first = memory_store.list_messages(thread_id, per_page=10, direction="asc").items
    text = next((m.text for m in first if m.role == "user" and m.text), "")
    if not text:
        return None
    config = agent.memory.title
    model: Model = resolve_model(config.model) if config.model is not None else agent.model
    response = model.generate(
        ModelRequest((ChatMessage("user", (TextPart(text[:4000]),)),), system=config.instructions)
    )
    title = clean_title(response.text)
    if not title:
        log.info("title model returned nothing thread=%s", thread_id)
        return None
    current = memory_store.get_thread(thread_id)
    if current is None or current.title:
        return None
    memory_store.update_thread(thread_id, title=title)
    log.info("thread titled thread=%s agent=%s", thread_id, agent.id)
    return title
