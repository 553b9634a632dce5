"""Resource archives handed out as short-lived download links (issue 16).

``POST /api/memory/resources/{resourceId}/export`` writes the resource's archive
(:func:`storage.lifecycle.archive_export.write_archive`) to a temporary file on local
disk, never to memory, then streams it into the blob store under
``exports/<resource>/<uuid>.zip`` (S3: a multipart upload; ``file://``: written
beside and renamed into place), and answers a link: an S3 presigned GET, or the dev
server's signed ``/api/blobs/<key>`` URL. The archive is never the response body
(Lambda answers at most 6 MB), and the bytes are held once, on disk.

Only blob stores whose links a client fetches can export: ``s3://`` and ``file://``.
The in-memory store's ``url_for`` is a ``data:`` URL, the archive itself in the answer,
so there (and without a blob store) the route answers 501. The bucket expires
``exports/`` after a day (``infra/constructs/storage.py``).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

from handlers.errors import HTTPError
from storage.errors import StorageError
from storage.keys import resource_export_prefix
from storage.lifecycle.archive_export import write_archive
from storage.lifecycle.archive_format import Manifest
from storage.timeutil import to_iso

log = logging.getLogger(__name__)

ARCHIVE_TYPE = "application/zip"
# Schemes whose url_for is a link to fetch (S3 presigned GET, the dev server's signed URL).
LINKED_SCHEMES = ("s3", "file")
NO_EXPORTS = ("exports are not supported by this storage: an export needs a blob store "
              "that serves download links (S3, or file:// behind the dev server)")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ExportLink:
    """Where to download one exported archive.

    Attributes:
        url: a GET URL (S3 presigned, or the dev server's signed URL).
        expires_at: unix seconds after which ``url`` is refused.
        manifest: the archive's manifest.
        sha256: the SHA-256 of the whole archive file, to check the download.
        size: the archive's size in bytes.
    """

    url: str
    expires_at: int
    manifest: Manifest
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """camelCase JSON: ``{url, expiresAt, method, manifest: {resourceId, createdAt,
        format, version, counts, sha256, size}}``.

        The manifest's per-member list is left out (one entry per blob: unbounded); the
        archive holds it, each member with its checksum.
        """
        manifest = self.manifest
        return {
            "url": self.url,
            "expiresAt": self.expires_at,
            "method": "GET",
            "manifest": {
                "resourceId": manifest.resource_id,
                "createdAt": to_iso(manifest.created_at),
                "format": manifest.format,
                "version": manifest.version,
                "counts": dict(manifest.counts),
                "sha256": self.sha256,
                "size": self.size,
            },
        }


def linking_blobs(store: Any) -> Any:
    """``store``'s blob store, if it hands out download links.

    Raises:
        HTTPError: 501 (``not supported``) without a blob store, or with one whose URLs
            are not links (the in-memory store's ``data:`` URLs).
    """
    blobs = getattr(store, "blobs", None)
    uri_for = getattr(blobs, "uri_for", None)
    if blobs is None or not callable(uri_for) or not callable(getattr(blobs, "url_for", None)):
        raise HTTPError(501, NO_EXPORTS)
    try:
        scheme = str(uri_for(f"{resource_export_prefix('x')}probe.zip")).split(":", 1)[0]
    except StorageError:
        raise HTTPError(501, NO_EXPORTS) from None
    if scheme.lower() not in LINKED_SCHEMES:
        raise HTTPError(501, NO_EXPORTS)
    return blobs


def export_key(resource_id: str) -> str:
    """A fresh key under the resource's export prefix: ``exports/<resource>/<uuid>.zip``."""
    return f"{resource_export_prefix(resource_id)}{uuid.uuid4().hex}.zip"


def publish_export(store: Any, blobs: Any, resource_id: str, expires_in: int) -> ExportLink:
    """Archive ``resource_id`` from ``store`` into ``blobs`` and return a link to it.

    Each call writes a new object (a retried request gets its own archive; the bucket
    expires them all). A failure before the upload completes leaves nothing in
    ``blobs``: the archive is written to a temporary file first, and both blob stores
    write an object whole or not at all.

    Raises:
        ValidationError: a bad resource id.
        StorageError: reading the resource or writing the archive failed.
    """
    key = export_key(resource_id)
    with tempfile.TemporaryFile(prefix="stowage-export-") as spool:
        manifest = write_archive(store, resource_id, spool)
        spool.seek(0)
        digest, size = hashlib.sha256(), 0
        for chunk in iter(lambda: spool.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
        spool.seek(0)
        uri = blobs.put(key, spool, content_type=ARCHIVE_TYPE)
    # Taken before the URL is signed, so the link lives at least until then.
    expires_at = int(time.time()) + expires_in
    url: str = blobs.url_for(uri, expires_in=expires_in)
    log.info("export: archive written bytes=%d records=%d blobs=%d", size,
             sum(n for d, n in manifest.counts.items() if d != "blobs"),
             manifest.counts.get("blobs", 0))
    return ExportLink(url, expires_at, manifest, digest.hexdigest(), size)


__all__ = ["ExportLink", "export_key", "linking_blobs", "publish_export"]
