"""What Mastra Studio asks a server before and around its pages.

- ``GET /`` and ``GET /api``: Studio probes the server root first; both answer 200.
- ``GET /api/auth/capabilities``: public (no auth), Mastra's shapes: without auth
  ``{"enabled": false, "login": null}``; under JWT ``{"enabled": true, "login": null}``
  and, with a valid token, the user and the capability flags.
- ``GET /api/system/packages``: which storage serves observability, and that it
  can compute metrics and answer trace queries (Studio shows Metrics only then).
- Features Stowage does not have (voice, MCP servers, channels, workspaces, the
  editor, processors, datasets, experiments, model providers): Mastra's answer when
  the feature is absent, an empty well-formed value, so Studio shows "none" instead
  of an error and does not retry. Thread subscriptions and the signal routes
  answer 501, which Studio reads as "not supported" and chats through the stream.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from handlers._wiring import get_app, settings
from handlers.auth import authenticate
from handlers.bodies import PageQ, PerPageQ, int_value, per_page_value
from handlers.errors import HTTPError
from handlers.routes._common import agent_or_404

router = Router()  # type: ignore[no-untyped-call]
root_router = Router()  # type: ignore[no-untyped-call]

# Answered without authentication (Studio calls them before it has credentials).
PUBLIC_ROUTES = frozenset({("GET", "/"), ("GET", "/api"), ("GET", "/api/auth/capabilities")})


@root_router.get("/", summary="Server root", tags=["System"])
def root() -> dict[str, Any]:
    """A 200 for clients that probe the server (Mastra Studio does before anything else)."""
    return {"name": "Stowage", "api": "/api", "openapi": "/api/openapi.json"}


@root_router.get("/api", summary="API root", tags=["System"])
def api_root() -> dict[str, Any]:
    """Where the API and its OpenAPI document are."""
    return root()


@router.get("/auth/capabilities", summary="Auth capabilities", tags=["System"])
def auth_capabilities() -> dict[str, Any]:
    """Whether auth is on and, with a valid token, who the caller is (Mastra's shapes)."""
    config = settings()
    if config.auth != "jwt":
        # IAM: API Gateway checks SigV4 before we run; there is no login for Studio to show.
        return {"enabled": False, "login": None}
    event = router.current_event
    try:
        caller = authenticate(config, event.headers or {}, event.raw_event.get("requestContext"))
    except HTTPError:
        return {"enabled": True, "login": None}
    return {
        "enabled": True,
        "login": None,
        "user": {"id": caller.subject},
        "capabilities": {"user": True, "session": False, "sso": False, "rbac": False,
                         "acl": False, "fga": False},
        "access": None,
    }


@router.get("/system/packages", summary="Server packages and storage", tags=["System"])
def system_packages() -> dict[str, Any]:
    """The storage behind each feature Studio pages depend on."""
    store = get_app().storage
    observability = getattr(store, "observability", None)
    return {
        "packages": [],
        "isDev": False,
        "cmsEnabled": False,
        "liveKitConnectionRouteEnabled": False,
        "observabilityEnabled": observability is not None,
        "storageType": f"Stowage{type(store).__name__}",
        "observabilityStorageType": f"Stowage{type(observability).__name__}"
        if observability is not None else None,
        # Metrics are derived from spans and trace queries are served; logs are not kept.
        "observabilityStorageCapabilities": {"metrics": observability is not None,
                                             "logs": False,
                                             "traceQueryDiscovery": observability is not None},
        "observabilityRuntimeStrategy": "event-sourced",
    }


# --- features Stowage does not have: Mastra's answer when they are absent ----------


@router.get("/agents/providers", summary="Model providers (none)", tags=["Agents"])
def providers() -> dict[str, Any]:
    """Models are configured in code (``Agent(model=...)``), not picked in Studio."""
    return {"providers": []}


@router.get("/agents/<agent_id>/voice/speakers", summary="Voice speakers (none)",
            tags=["Agents"])
def voice_speakers(agent_id: str) -> list[Any]:
    """Agents have no voice."""
    agent_or_404(agent_id)
    return []


@router.get("/editor/builder/settings", summary="Editor (off)", tags=["System"])
def editor_settings() -> dict[str, Any]:
    """The editor is not available: agents are code."""
    return {"enabled": False, "modelPolicy": {"active": False}}


@router.get("/editor/builder/models/available", summary="Editor models (none)", tags=["System"])
def editor_models() -> dict[str, Any]:
    """No editor, so no models to pick."""
    return {"providers": []}


@router.get("/channels/platforms", summary="Channels (none)", tags=["System"])
def channel_platforms() -> list[Any]:
    """No channel integrations."""
    return []


@router.get("/experiments/review-summary", summary="Experiments (none)", tags=["System"])
def experiments_review() -> dict[str, Any]:
    """No experiments."""
    return {"counts": []}


@router.get("/mcp/v0/servers", summary="MCP servers (none)", tags=["System"])
def mcp_servers() -> dict[str, Any]:
    """No MCP servers."""
    return {"servers": [], "total_count": 0, "next": None}


@router.get("/processors", summary="Processors (none registered)", tags=["System"])
def processors() -> dict[str, Any]:
    """No standalone processors (an agent's own run inside it)."""
    return {}


@router.get("/workspaces", summary="Workspaces (none)", tags=["System"])
def workspaces() -> dict[str, Any]:
    """No workspaces."""
    return {"workspaces": []}


@router.get("/datasets", summary="Datasets (none)", tags=["System"])
def datasets(page: PageQ = None, per_page: PerPageQ = None) -> dict[str, Any]:
    """No datasets."""
    number, size = int_value("page", page), per_page_value(per_page, 10)
    return {"datasets": [], "pagination": {"total": 0, "page": number,
                                           "perPage": size if size is not None else False,
                                           "hasMore": False}}


def _not_supported(agent_id: str, what: str) -> None:
    agent_or_404(agent_id)
    # 501 is what Mastra answers without thread subscriptions; Studio then streams.
    raise HTTPError(501, f"{what} are not supported by this server; use /stream")


@router.post("/agents/<agent_id>/threads/subscribe", summary="Thread subscriptions (501)",
             tags=["Agents"])
def subscribe_thread(agent_id: str) -> dict[str, Any]:
    """Not supported: 501."""
    _not_supported(agent_id, "agent thread subscriptions")
    return {}


@router.post("/agents/<agent_id>/send-message", summary="Signals (501)", tags=["Agents"])
def send_message(agent_id: str) -> dict[str, Any]:
    """Not supported: 501."""
    _not_supported(agent_id, "agent signals")
    return {}


@router.post("/agents/<agent_id>/queue-message", summary="Signals (501)", tags=["Agents"])
def queue_message(agent_id: str) -> dict[str, Any]:
    """Not supported: 501."""
    _not_supported(agent_id, "agent signals")
    return {}


@router.post("/agents/<agent_id>/signals", summary="Signals (501)", tags=["Agents"])
def signals(agent_id: str) -> dict[str, Any]:
    """Not supported: 501."""
    _not_supported(agent_id, "agent signals")
    return {}


__all__ = ["PUBLIC_ROUTES", "root_router", "router"]
