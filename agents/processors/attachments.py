"""``AttachmentUploader``: inline attachment bytes become blob URIs before anything is stored.

Keys are ``attachments/<resource>/<thread>/<sha256>`` (``storage.keys.attachment_key``):
the same bytes in one thread are stored once, and deleting the thread deletes them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Any

from agents.messages import decode_data, is_inline
from agents.processors.base import BaseProcessor, ProcessorContext
from storage.keys import attachment_key
from storage.records import Message

log = logging.getLogger(__name__)


class AttachmentUploader(BaseProcessor):
    """Replace ``data:`` URLs (and bare base64) in ``file`` parts and
    ``experimental_attachments`` with blob URIs.

    On by default for an agent whose storage has a blob store. It does nothing when the
    call has no thread and resource (nothing is stored then, so the bytes can stay
    inline). The uploaded bytes are kept in ``context.blob_cache`` so the model
    receives them without a read back.

    Args:
        blobs: the blob store to use (default: ``context.storage.blobs``).
    """

    id = "attachment-uploader"

    def __init__(self, blobs: Any = None) -> None:
        self.blobs = blobs

    def process_input(self, messages: list[Message], context: ProcessorContext) -> list[Message]:
        """Upload every inline attachment of ``messages``; return them holding blob URIs."""
        blobs = self.blobs or getattr(context.storage, "blobs", None)
        if blobs is None or context.thread_id is None or context.resource_id is None:
            return messages
        return [self._message(m, blobs, context) for m in messages]

    def _message(self, message: Message, blobs: Any, context: ProcessorContext) -> Message:
        content = dict(message.content)
        changed = False
        parts = []
        for part in content.get("parts") or []:
            if isinstance(part, dict) and part.get("type") == "file":
                data = part.get("data")
                if isinstance(data, str) and is_inline(data):
                    uri = self._upload(data, str(part.get("mimeType") or ""), blobs, context)
                    part = {**part, "data": uri}
                    changed = True
            parts.append(part)
        atts = []
        for att in content.get("experimental_attachments") or []:
            url = att.get("url") if isinstance(att, dict) else None
            if isinstance(url, str) and is_inline(url):
                uri = self._upload(url, str(att.get("contentType") or ""), blobs, context)
                att = {**att, "url": uri}
                changed = True
            atts.append(att)
        if not changed:
            return message
        content["parts"] = parts
        if atts:
            content["experimental_attachments"] = atts
        return replace(message, content=content)

    def _upload(self, value: str, mime: str, blobs: Any, context: ProcessorContext) -> str:
        data = decode_data(value)
        assert data is not None  # is_inline() was checked by the caller
        digest = hashlib.sha256(data).hexdigest()
        assert context.resource_id is not None and context.thread_id is not None
        key = attachment_key(context.resource_id, context.thread_id, digest)
        uri: str = blobs.put(key, data, content_type=mime or None)
        context.blob_cache[uri] = data
        log.debug("attachment uploaded key=%s bytes=%d", key, len(data))
        return uri
