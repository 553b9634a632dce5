"""Request bodies and query values, validated at the edge (pydantic).

Unknown fields are ignored (``@mastra/client-js`` sends ``requestContext``,
``clientTools`` and the like, which this server does not use); wrong types,
missing required fields and empty message lists are refused with a 400. Types are
strict, as in JavaScript: ``"3"`` and ``true`` are not integers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from handlers import json_input
from handlers.errors import HTTPError
from storage.timeutil import from_iso

MAX_PER_PAGE = 1000
Id = Annotated[StrictStr, Field(min_length=1, max_length=512)]
RunId = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ThreadRef(_Body):
    """``memory.thread`` given as an object."""

    id: Id
    title: StrictStr | None = None
    metadata: dict[str, Any] | None = None


class MemoryOption(_Body):
    """``memory``: ``{thread: id | {id, title, metadata}, resource: id, options?}``.

    ``options`` (``lastMessages``, ``semanticRecall``) is checked by the agent.
    """

    thread: Id | ThreadRef | None = None
    resource: Id | None = None
    options: dict[str, Any] | None = None


class GenerateBody(_Body):
    """``POST /api/agents/{id}/generate`` and ``/stream``."""

    messages: Annotated[StrictStr, Field(min_length=1)] | Annotated[
        list[StrictStr | dict[str, Any]], Field(min_length=1)
    ]
    memory: MemoryOption | None = None
    thread_id: Id | None = Field(default=None, alias="threadId")
    resource_id: Id | None = Field(default=None, alias="resourceId")
    max_steps: Annotated[StrictInt, Field(ge=1, le=50)] | None = Field(default=None,
                                                                       alias="maxSteps")
    # Mastra Studio names its runs; the id goes into every chunk and a response header.
    run_id: RunId | None = Field(default=None, alias="runId")

    def memory_arg(self, resource_override: str | None) -> dict[str, Any] | None:
        """The ``memory=`` argument of ``Agent.generate``; the tenant's resource wins."""
        thread: Any = None
        resource = self.resource_id
        if self.memory is not None:
            thread = self.memory.thread
            resource = self.memory.resource or resource
        thread = thread if thread is not None else self.thread_id
        if resource_override is not None:
            resource = resource_override
        if thread is None or resource is None:
            return None
        if isinstance(thread, ThreadRef):
            thread = thread.model_dump(exclude_none=True)
        arg: dict[str, Any] = {"thread": thread, "resource": resource}
        if self.memory is not None and self.memory.options is not None:
            arg["options"] = self.memory.options
        return arg

    @property
    def resource_given(self) -> str | None:
        """The resource the call names (``memory.resource``, else ``resourceId``)."""
        if self.memory is not None and self.memory.resource is not None:
            return self.memory.resource
        return self.resource_id

    @property
    def thread_id_given(self) -> str | None:
        """The thread id the call names, however it was given."""
        thread: Any = self.memory.thread if self.memory is not None else None
        if isinstance(thread, ThreadRef):
            return thread.id
        return thread if thread is not None else self.thread_id


class CreateThreadBody(_Body):
    """``POST /api/memory/threads``."""

    resource_id: Id | None = Field(default=None, alias="resourceId")
    thread_id: Id | None = Field(default=None, alias="threadId")
    title: StrictStr | None = None
    metadata: dict[str, Any] | None = None


class UpdateThreadBody(_Body):
    """``PATCH /api/memory/threads/{id}``: title and metadata (merged key by key)."""

    title: StrictStr | None = None
    metadata: dict[str, Any] | None = None
    resource_id: Id | None = Field(default=None, alias="resourceId")


class WorkingMemoryBody(_Body):
    """``POST /api/memory/threads/{id}/working-memory``."""

    working_memory: StrictStr = Field(alias="workingMemory")
    resource_id: Id | None = Field(default=None, alias="resourceId")


class AttachmentBody(_Body):
    """``POST /api/attachments``: what the client will upload, and where it belongs."""

    content_type: Annotated[StrictStr, Field(min_length=3, max_length=255)] = Field(
        alias="contentType"
    )
    size: Annotated[StrictInt, Field(gt=0)] | None = None
    filename: Annotated[StrictStr, Field(max_length=255)] | None = None
    thread_id: Id = Field(alias="threadId")
    resource_id: Id | None = Field(default=None, alias="resourceId")

    @field_validator("content_type")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


# Query parameters, documented in the OpenAPI document. They arrive as text and are
# checked by the helpers below, so a bad value gets a message naming the parameter.
AgentIdQ = Annotated[str | None, Query(alias="agentId", description="use this agent's storage")]
ResourceIdQ = Annotated[str | None, Query(alias="resourceId", description="the owner resource")]
PageQ = Annotated[str | None, Query(alias="page", description="0-based page number")]
PerPageQ = Annotated[str | None, Query(
    alias="perPage", description="items per page (at most 1000), or false for all")]


def per_page_value(raw: str | None, default: int | None) -> int | None:
    """``perPage``: a non-negative integer up to 1000, or ``false``/``all`` for everything.

    Raises:
        HTTPError: 400 for anything else.
    """
    if raw is None or raw == "":
        return default
    if raw.lower() in ("false", "all"):
        return None
    value = int_value("perPage", raw)
    if value > MAX_PER_PAGE:
        raise HTTPError(400, f"perPage must be at most {MAX_PER_PAGE}")
    return value


def int_value(name: str, raw: str | None, default: int = 0) -> int:
    """A non-negative integer query value: ASCII digits, a JavaScript-safe integer.

    Raises:
        HTTPError: 400 when it is not one.
    """
    if raw is None or raw == "":
        return default
    # int() would also take "+5", " 5", "1_000" and non-ASCII digits.
    if not (raw.isascii() and raw.isdigit()):
        raise HTTPError(400, f"{name} must be a non-negative integer")
    value = int(raw) if len(raw) <= 16 else json_input.MAX_SAFE_INTEGER + 1
    if value > json_input.MAX_SAFE_INTEGER:
        raise HTTPError(400, f"{name} must be at most {json_input.MAX_SAFE_INTEGER}")
    return value


def time_value(name: str, raw: Any) -> datetime:
    """An ISO-8601 timestamp given as a string (``Z`` or an offset; naive means UTC).

    Raises:
        HTTPError: 400 naming ``name`` for anything else (a number, a list, a date
            outside what a UTC timestamp can hold).
    """
    if not isinstance(raw, str):
        raise HTTPError(400, f"{name} must be an ISO timestamp string")
    try:
        return from_iso(raw)
    except (ValueError, OverflowError):
        raise HTTPError(400, f"{name} must be an ISO timestamp") from None


def json_value(name: str, raw: str | None) -> Any:
    """A JSON-encoded query value (``metadata``, ``orderBy``, ``include``, ``filter``).

    Raises:
        HTTPError: 400 naming ``name`` when it is not JSON or is nested too deep.
    """
    if raw is None or raw == "":
        return None
    return json_input.parse_query(raw, name)


__all__ = [
    "MAX_PER_PAGE",
    "AgentIdQ",
    "AttachmentBody",
    "CreateThreadBody",
    "GenerateBody",
    "PageQ",
    "PerPageQ",
    "ResourceIdQ",
    "UpdateThreadBody",
    "WorkingMemoryBody",
    "int_value",
    "json_value",
    "per_page_value",
    "time_value",
]
