"""``InMemoryBlobStore``: bytes in a dict, addressed by ``memory://blobs/<key>``."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from storage import validation as v
from storage.blob_uris import check_blob_key, check_content_type, split_blob_uri
from storage.errors import NotFoundError, ValidationError

URI_PREFIX = "memory://blobs/"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class _Blob:
    data: bytes
    content_type: str | None


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
        """Store bytes under ``key`` (see ``storage.blob_uris.check_blob_key``).

        Returns:
            ``memory://blobs/<key>``.
        """
        check_blob_key(key)
        check_content_type(content_type)
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
        if isinstance(uris, str):
            raise ValidationError("delete takes a list of URIs, not a single string")
        keys = [self.key_of(uri) for uri in uris]
        with self._lock:
            for key in keys:
                self._blobs.pop(key, None)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob whose key starts with ``prefix``."""
        check_blob_key(prefix, prefix=True)
        with self._lock:
            for key in [k for k in self._blobs if k.startswith(prefix)]:
                del self._blobs[key]

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key starting with ``prefix``, sorted (a snapshot taken when called)."""
        check_blob_key(prefix, prefix=True)
        with self._lock:
            keys = sorted(k for k in self._blobs if k.startswith(prefix))
        return iter(keys)

    def url_for(self, uri: str, *, expires_in: int = 900) -> str:
        """A ``data:`` URL holding the blob (``expires_in`` is checked, not needed)."""
        v.check_non_negative(expires_in, "expires_in")
        blob = self._blob(uri)
        media = blob.content_type or "application/octet-stream"
        return f"data:{media};base64,{base64.b64encode(blob.data).decode('ascii')}"

    def _blob(self, uri: str) -> _Blob:
        key = self.key_of(uri)
        with self._lock:
            blob = self._blobs.get(key)
        if blob is None:
            raise NotFoundError(f"no blob at {uri!r}")
        return blob

    def uri_for(self, key: str) -> str:
        """The URI of ``key`` (``memory://blobs/<key>``)."""
        return URI_PREFIX + check_blob_key(key)

    @staticmethod
    def key_of(uri: str) -> str:
        """The key a ``memory://blobs/<key>`` URI names (see :mod:`storage.blob_uris`).

        Raises:
            ValidationError: not one of this store's URIs.
        """
        parts = split_blob_uri(uri)
        if parts.scheme != "memory" or parts.host != "blobs":
            raise ValidationError(f"{uri!r} is not a memory://blobs/ URI")
        return check_blob_key(parts.path)
