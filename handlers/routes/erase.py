"""``DELETE /api/memory/resources/{resourceId}``: erase everything a resource owns.

Under JWT a caller may erase only itself (its token's subject); any other resource is
the 404 every route gives for another tenant's data, whether or not it exists. Under
IAM the caller is an operator and may erase any resource. The answer is the erasure
receipt (counts per domain and times, no content); an unknown resource, or one already
erased, answers an all-zero receipt. See ``storage.lifecycle.erase``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from handlers.bodies import AgentIdQ
from handlers.errors import not_found
from handlers.routes._common import caller_of, memory_of, store_for
from storage import validation as v
from storage.lifecycle.erase import erase_resource

router = Router()  # type: ignore[no-untyped-call]


@router.delete("/memory/resources/<resource_id>", summary="Erase a resource",
               tags=["Memory"])
def erase(resource_id: str, agent_id: AgentIdQ = None) -> dict[str, Any]:
    """Delete the resource's threads, messages, vectors, working memory, runs, spans,
    scores and blobs in the (agent's) store; the receipt.

    Raises:
        HTTPError: 404 ``Resource not found`` for another tenant's resource (JWT).
        ValidationError: a bad resource id (400).
    """
    caller = caller_of(router)
    v.check_id(resource_id, "resource id")
    if not caller.owns(resource_id):
        raise not_found("Resource")
    store = store_for(agent_id)
    memory_of(store)
    return erase_resource(store, resource_id).to_dict()
