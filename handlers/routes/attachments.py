"""``POST /api/attachments``: an upload URL for a file too big for a JSON body."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from handlers._wiring import get_app, settings
from handlers.bodies import AttachmentBody
from handlers.errors import HTTPError
from handlers.routes._common import caller_of, memory_of, owned_thread
from handlers.uploads import grant_upload, upload_key

router = Router()  # type: ignore[no-untyped-call]


@router.post("/attachments", summary="Get an upload URL", tags=["Attachments"])
def create_upload(body: Annotated[AttachmentBody, Body()]) -> dict[str, Any]:
    """A presigned POST (S3) or a signed dev-server URL, bounded in size and content type.

    The thread must exist (and belong to the caller); the uploaded object lives under
    the thread's attachment prefix, so it is deleted with the thread. A message then
    references the returned ``uri`` in ``experimental_attachments`` or a ``file`` part.
    """
    config = settings()
    if body.content_type not in config.upload_types:
        raise HTTPError(400, f"contentType must be one of {', '.join(config.upload_types)}")
    if body.size is not None and body.size > config.max_upload_bytes:
        raise HTTPError(413, f"size is over the {config.max_upload_bytes}-byte upload limit")
    store = get_app().storage
    blobs = getattr(store, "blobs", None)
    if blobs is None:
        raise HTTPError(400, "storage has no blob store for attachments")
    thread = owned_thread(memory_of(store), body.thread_id, caller_of(router))
    if body.resource_id is not None and body.resource_id != thread.resource_id:
        raise HTTPError(404, "Thread not found")
    grant = grant_upload(
        blobs,
        upload_key(thread.resource_id, thread.id),
        content_type=body.content_type,
        max_bytes=min(body.size or config.max_upload_bytes, config.max_upload_bytes),
        expires_in=config.url_ttl,
    )
    return grant.to_dict()
