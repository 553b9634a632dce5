"""What the App is made of, as Mastra lists it: tools, scorers, workflows, memory settings.

- ``GET /api/tools``, ``GET /api/tools/{toolId}``: every agent's tools (Mastra's
  shape: the JSON schema as superjson text ``{"json": schema}``).
- ``GET /api/scores/scorers``, ``GET /api/scores/scorers/{id}``: the agents'
  scorers, with the agents using each.
- ``GET /api/workflows``, ``GET /api/workflows/run-counts``: Stowage defines no
  workflows of its own (an agent's runs are recorded as ``agent:<id>`` runs, listed
  by ``GET /api/workflows/{name}/runs``), so both are Mastra's answer for an app
  without workflows: ``{}``.
- ``GET /api/memory/config?agentId=``: the agent's memory settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from handlers._wiring import get_app
from handlers.bodies import AgentIdQ
from handlers.errors import HTTPError, not_found
from handlers.routes._common import agent_or_404

router = Router()  # type: ignore[no-untyped-call]


def tool_json(tool: Any) -> dict[str, Any]:
    """A tool as ``GET /api/tools`` lists it."""
    described = tool.describe()
    return {
        "id": described["id"],
        "description": described.get("description") or "",
        # Mastra serialises schemas with superjson: a JSON text of {"json": schema}.
        "inputSchema": json.dumps({"json": described.get("inputSchema") or {}}),
        "requireApproval": False,
    }


def _tools() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for agent in get_app().agents.values():
        for name, tool in agent.tools.items():
            found.setdefault(name, tool)
    return found


@router.get("/tools", summary="List tools", tags=["Tools"])
def list_tools() -> dict[str, Any]:
    """Every agent's tools, by id."""
    return {name: tool_json(tool) for name, tool in sorted(_tools().items())}


@router.get("/tools/<tool_id>", summary="Get a tool", tags=["Tools"])
def get_tool(tool_id: str) -> dict[str, Any]:
    """One tool, or 404."""
    tool = _tools().get(tool_id)
    if tool is None:
        raise not_found("Tool")
    return tool_json(tool)


def _scorers() -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for agent in get_app().agents.values():
        for scorer in agent.scorers:
            entry = entries.get(scorer.id)
            if entry is None:
                entry = entries[scorer.id] = {
                    "scorer": {"config": {
                        "id": scorer.id,
                        "name": getattr(scorer, "name", None) or scorer.id,
                        "description": getattr(scorer, "description", None) or "",
                    }},
                    "sampling": {"type": "ratio", "rate": scorer.sampling_rate},
                    "agentIds": [], "agentNames": [], "workflowIds": [],
                    "isRegistered": False, "source": "code",
                }
            entry["agentIds"].append(agent.id)
            entry["agentNames"].append(agent.name)
    return entries


@router.get("/scores/scorers", summary="List scorers", tags=["Scores"])
def list_scorers() -> dict[str, Any]:
    """Every agent's scorers, with the agents that use each."""
    return _scorers()


@router.get("/scores/scorers/<scorer_id>", summary="Get a scorer", tags=["Scores"])
def get_scorer(scorer_id: str) -> dict[str, Any]:
    """One scorer, or 404."""
    entry = _scorers().get(scorer_id)
    if entry is None:
        raise not_found("Scorer")
    return entry


@router.get("/workflows", summary="List workflows", tags=["Workflows"])
def list_workflows() -> dict[str, Any]:
    """No workflows are defined (agent runs are listed under ``/workflows/agent:<id>/runs``)."""
    return {}


@router.get("/workflows/run-counts", summary="Running and suspended runs per workflow",
            tags=["Workflows"])
def workflow_run_counts() -> dict[str, Any]:
    """Per defined workflow: none are defined."""
    return {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _semantic_recall(settings: Any) -> Any:
    """``false``, ``true`` or the options, camelCase (the attribute arrives with semantic
    recall; until then it is ``false``)."""
    value = getattr(settings, "semantic_recall", False)
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, Mapping):
        return {_camel(str(k)): v for k, v in value.items()}
    describe = getattr(value, "describe", None)
    if callable(describe):
        return describe()
    if hasattr(value, "__dict__"):
        return {_camel(k): v for k, v in vars(value).items()
                if not k.startswith("_") and isinstance(v, str | int | float | bool | dict)}
    return True


@router.get("/memory/config", summary="An agent's memory settings", tags=["Memory"])
def memory_config(agent_id: AgentIdQ = None) -> dict[str, Any]:
    """The agent's memory settings, Mastra's shape (``{"config": null}`` without memory)."""
    if not agent_id:
        raise HTTPError(400, "agentId is required")
    settings = agent_or_404(agent_id).memory
    if settings is None:
        return {"config": None}
    template = settings.working_memory_template
    working: dict[str, Any] = {"enabled": template is not None, "scope": "resource"}
    if template is not None:
        working["template"] = template
    return {"config": {
        "lastMessages": settings.last_messages,
        "semanticRecall": _semantic_recall(settings),
        "generateTitle": settings.generate_title,
        "workingMemory": working,
        "observationalMemory": {"enabled": False},
    }}



__all__ = ["list_tools", "memory_config", "router", "tool_json"]
