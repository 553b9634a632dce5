"""Upload URLs for attachments too big for a Lambda payload.

On S3 the answer is a presigned POST (size and content type bounded by the policy
S3 enforces). On the local ``file://`` store it is a signed URL of the dev server
that accepts the same multipart form (or the raw bytes) under the same bounds, so a
client uploads the same way to both. Either way the object lands under the thread's
attachment prefix, so deleting the thread deletes it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from handlers.errors import HTTPError
from storage.keys import thread_attachment_prefix


@dataclass(frozen=True)
class UploadGrant:
    """Where and how to upload one file.

    Attributes:
        url: POST target.
        fields: form fields to send before the ``file`` field (S3's policy).
        key: the blob key, relative to the blob store.
        uri: the blob URI a message references once the upload is done.
        expires_at: unix seconds after which the grant is refused.
        max_bytes: the largest accepted file.
        content_type: the only accepted content type.
    """

    url: str
    fields: dict[str, str]
    key: str
    uri: str
    expires_at: int
    max_bytes: int
    content_type: str

    def to_dict(self) -> dict[str, Any]:
        """camelCase JSON for ``POST /api/attachments``."""
        return {
            "url": self.url,
            "fields": self.fields,
            "key": self.key,
            "uri": self.uri,
            "expiresAt": self.expires_at,
            "maxBytes": self.max_bytes,
            "contentType": self.content_type,
            "method": "POST",
        }


def upload_key(resource_id: str, thread_id: str) -> str:
    """A fresh key under the thread's attachment prefix."""
    return f"{thread_attachment_prefix(resource_id, thread_id)}upload-{uuid.uuid4().hex}"


def grant_upload(blobs: Any, key: str, *, content_type: str, max_bytes: int,
                 expires_in: int) -> UploadGrant:
    """An upload grant for ``key`` on whichever blob store this deployment uses.

    Raises:
        HTTPError: 400 when the blob store takes no direct uploads.
    """
    expires_at = int(time.time()) + expires_in
    presign = getattr(blobs, "presigned_post", None)
    if callable(presign):
        # The S3 store knows its bucket, prefix and client best.
        post = presign(key, content_type=content_type, max_bytes=max_bytes,
                       expires_in=expires_in)
        return UploadGrant(post["url"], dict(post["fields"]), key, post["uri"], expires_at,
                           max_bytes, content_type)
    verify = getattr(blobs, "verify_signature", None)
    root = getattr(blobs, "root", None)
    if callable(verify) and root is not None:
        return _local_grant(blobs, key, content_type, max_bytes, expires_at)
    uri_for = getattr(blobs, "uri_for", None)
    if callable(uri_for):
        uri = uri_for(key)
        if uri.startswith("s3://"):
            return _s3_grant(blobs, uri, key, content_type, max_bytes, expires_in, expires_at)
    raise HTTPError(400, "this deployment's blob store takes no direct uploads")


def _s3_grant(blobs: Any, uri: str, key: str, content_type: str, max_bytes: int,
              expires_in: int, expires_at: int) -> UploadGrant:
    parts = urlsplit(uri)
    client = getattr(blobs, "client", None)
    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", config=Config(signature_version="s3v4"))
    post = client.generate_presigned_post(
        Bucket=parts.netloc,
        Key=parts.path.lstrip("/"),
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=expires_in,
    )
    return UploadGrant(post["url"], dict(post["fields"]), key, uri, expires_at, max_bytes,
                       content_type)


def local_signature_message(key: str, content_type: str, max_bytes: int) -> str:
    """What a local upload URL signs, besides its expiry: the key and both bounds."""
    return f"upload\n{key}\n{content_type}\n{max_bytes}"


def _local_grant(blobs: Any, key: str, content_type: str, max_bytes: int,
                 expires_at: int) -> UploadGrant:
    from storage.files import signing

    secret = signing.load_secret(blobs.root / ".stowage-secret")
    signature = signing.sign(secret, local_signature_message(key, content_type, max_bytes),
                             expires_at)
    query = urlencode({"type": content_type, "max": max_bytes, "expires": expires_at,
                       "signature": signature})
    base = signing.public_base(getattr(blobs, "_public_url", None))
    url = f"{base}/api/attachments/upload/{quote(key, safe='/')}?{query}"
    return UploadGrant(url, {}, key, blobs.uri_for(key), expires_at, max_bytes, content_type)


def verify_local_upload(blobs: Any, key: str, content_type: str, max_bytes: int | str,
                        expires: int | str, signature: str) -> bool:
    """Whether a local upload URL's parameters are the ones signed and not expired."""
    try:
        limit = int(max_bytes)
    except (TypeError, ValueError):
        return False
    return bool(blobs.verify_signature(local_signature_message(key, content_type, limit),
                                       expires, signature))
