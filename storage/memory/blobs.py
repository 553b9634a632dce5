"""``InMemoryBlobStore``: bytes in a dict, addressed by ``memory://blobs/<key>``."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from storage import validation as v
from storage.errors import NotFoundError, ValidationError

URI_PREFIX = "memory://blobs/"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class _Blob:
    data: bytes
    content_type: str | None


def check_key(key: object, *, prefix: bool = False) -> str:
    """A relative ``/``-separated key with no empty, ``.`` or ``..`` segment (as files/S3)."""
    v.check_id(key, "blob key")
    assert isinstance(key, str)
    if key.startswith("/") or "\\" in key:
        raise ValidationError(f"blob key {key!r} must be a relative path with '/' separators")
    parts = key.split("/")
    if prefix and parts[-1] == "":
        parts = parts[:-1]
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise ValidationError(f"blob key {key!r} has an empty, '.' or '..' segment")
    return key


def _read_all(data: bytes | bytearray | memoryview | BinaryIO) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    read = getattr(data, "read", None)
    if not callable(read):
        raise ValidationError(f"blob data must be bytes or a binary file, got {type(data)!r}")
    chunks: list[bytes] = []
    while True:
        chunk = read(_CHUNK)
        if not chunk:
            break
        if not isinstance(chunk, bytes | bytearray):
            raise ValidationError("blob file object must be opened in binary mode")
        chunks.append(bytes(chunk))
    return b"".join(chunks)


class InMemoryBlobStore:
    """Opaque bytes in process memory (see ``BlobStore``).

    ``url_for`` returns a self-contained ``data:`` URL: there is no server to point at.
    """

    def __init__(self, *, lock: threading.RLock | None = None) -> None:
        self._lock = lock or threading.RLock()
        self._blobs: dict[str, _Blob] = {}

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        content_type: str | None = None,
    ) -> str:
        """Store bytes under ``key``. Returns ``memory://blobs/<key>``."""
        check_key(key)
        if content_type is not None:
            v.check_id(content_type, "content type")
        payload = _read_all(data)
        with self._lock:
            self._blobs[key] = _Blob(payload, content_type)
        return URI_PREFIX + key

    def get(self, uri: str) -> bytes:
        """The blob's bytes.

        Raises:
            NotFoundError: no such blob.
            ValidationError: the URI is not a ``memory://blobs/`` URI.
        """
        return self._blob(uri).data

    def open(self, uri: str) -> BinaryIO:
        """A file-like reader over the blob."""
        # BytesIO over immutable bytes shares the buffer until written to: no copy.
        return io.BytesIO(self._blob(uri).data)

    def delete(self, uris: Sequence[str]) -> None:
        """Delete blobs; unknown URIs are ignored."""
        keys = [self._key(uri) for uri in v.check_ids(uris, "blob URI")]
        with self._lock:
            for key in keys:
                self._blobs.pop(key, None)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob whose key starts with ``prefix``."""
        check_key(prefix, prefix=True)
        with self._lock:
            for key in [k for k in self._blobs if k.startswith(prefix)]:
                del self._blobs[key]

    def url_for(self, uri: str, *, expires_in: int = 900) -> str:
        """A ``data:`` URL holding the blob (``expires_in`` is checked, not needed)."""
        v.check_non_negative(expires_in, "expires_in")
        blob = self._blob(uri)
        media = blob.content_type or "application/octet-stream"
        return f"data:{media};base64,{base64.b64encode(blob.data).decode('ascii')}"

    def _blob(self, uri: str) -> _Blob:
        key = self._key(uri)
        with self._lock:
            blob = self._blobs.get(key)
        if blob is None:
            raise NotFoundError(f"no blob at {uri!r}")
        return blob

    @staticmethod
    def _key(uri: object) -> str:
        v.check_id(uri, "blob URI")
        assert isinstance(uri, str)
        if not uri.startswith(URI_PREFIX) or len(uri) == len(URI_PREFIX):
            raise ValidationError(f"{uri!r} is not a memory://blobs/ URI")
        return uri[len(URI_PREFIX) :]
