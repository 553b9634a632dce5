"""The ``blobs`` domain: attachments and offloaded attributes by key.

Part of :mod:`storage.protocols` (the contract; import the names from there)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO, Protocol, runtime_checkable


@runtime_checkable
class BlobStore(Protocol):
    """Opaque bytes addressed by URI (``file://``, ``s3://``, ``memory://``)."""

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> str:
        """Store bytes under ``key`` (relative to the store's root). Returns the blob URI."""
        ...

    def get(self, uri: str) -> bytes:
        """The blob's bytes.

        Raises:
            NotFoundError: no such blob.
            ValidationError: the URI is not one of this store's.
        """
        ...

    def open(self, uri: str) -> BinaryIO:
        """A streaming, file-like reader over the blob (close it when done)."""
        ...

    def delete(self, uris: Sequence[str]) -> None:
        """Delete blobs; unknown URIs are ignored."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob whose key starts with ``prefix``."""
        ...

    def url_for(self, uri: str, *, expires_in: int = 900) -> str:
        """A short-lived https (or local) URL that downloads the blob."""
        ...

    def uri_for(self, key: str) -> str:
        """The URI :meth:`put` returns for ``key`` (nothing is read or written)."""
        ...

    def key_of(self, uri: str) -> str:
        """The key one of this store's URIs names: the one parser of blob URIs.

        Every read goes through it, and so must every ownership check: compare the
        key it returns (``storage.keys.is_attachment_of``), never the URI's text.
        Shared rules in :mod:`storage.blob_uris`: the scheme in any case, no query,
        fragment, user or port, no ``.``/``..`` segment.

        Raises:
            ValidationError: not one of this store's URIs (another scheme, bucket,
                prefix or folder), or ambiguous.
        """
        ...


@runtime_checkable
class BlobLister(Protocol):
    """A blob store that lists its keys (every backend's does; a custom one may not)."""

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key starting with ``prefix`` (relative to the store's root), sorted,
        read page by page as the iterator is consumed."""
        ...
