"""The ``file://`` blob store: a local folder, with signed dev-server download URLs.

``storage.open("file:///.stowage/blobs")`` (relative to the project root) or
``file:////abs/folder``; ``?public_url=`` overrides where download URLs point.
"""

from __future__ import annotations

from urllib.parse import SplitResult

from storage.files.store import FileBlobStore, FileStore
from storage.urls import local_path, url_options

OPTIONS = ("public_url",)


def open_url(parsed: SplitResult) -> FileStore:
    """The store a ``file:`` URL names (see :func:`storage.urls.local_path`)."""
    public_url = url_options(parsed, OPTIONS).get("public_url") or None
    return FileStore(local_path(parsed), public_url=public_url)


__all__ = ["FileBlobStore", "FileStore", "open_url"]
