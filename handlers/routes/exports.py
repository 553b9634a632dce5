"""``POST /api/memory/resources/{resourceId}/export``: a download link to a resource's archive.

Under JWT a caller may export only itself (its token's subject); any other resource
is the 404 every route gives for another tenant's data, whether or not it exists.
Under IAM the caller is an operator and may export any resource. A resource the store
does not know exports as an archive with no records (as the library does, and as
erase answers an empty receipt): a new user exporting itself gets an empty archive,
not an error. See :mod:`handlers.exports` for where the archive goes.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from handlers._wiring import settings
from handlers.bodies import AgentIdQ
from handlers.errors import not_found
from handlers.exports import linking_blobs, publish_export
from handlers.routes._common import caller_of, memory_of, store_for
from storage import validation as v

router = Router()  # type: ignore[no-untyped-call]


@router.post("/memory/resources/<resource_id>/export", summary="Export a resource",
             tags=["Memory"])
def export(resource_id: str, agent_id: AgentIdQ = None) -> dict[str, Any]:
    """Archive the resource's records and attachments in the (agent's) store; answer a
    short-lived download link (``url``, ``expiresAt``) and the archive's ``manifest``
    (counts per domain, SHA-256 and size of the archive). Import the download with
    ``python -m storage.lifecycle import``.

    Raises:
        HTTPError: 404 ``Resource not found`` for another tenant's resource (JWT); 501
            when the storage has no blob store that serves download links.
        ValidationError: a bad resource id (400).
    """
    caller = caller_of(router)
    v.check_id(resource_id, "resource id")
    if not caller.owns(resource_id):
        raise not_found("Resource")
    store = store_for(agent_id)
    memory_of(store)
    blobs = linking_blobs(store)
    return publish_export(store, blobs, resource_id, settings().url_ttl).to_dict()
