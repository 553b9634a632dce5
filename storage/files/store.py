"""``FileBlobStore``: blobs as files under a folder, for local development.

A key is a relative ``/``-separated path under the root; URIs are ``file:///abs/path``.
Writes stream into a temporary file in the target folder and ``os.replace`` it into
place, so a reader never sees half a blob. The content type given to :meth:`put` is
kept in a sidecar under ``<root>/.stowage-meta/`` (read by :meth:`content_type`, which
the dev server uses); keys beginning with ``.stowage`` are reserved for it and for
the URL-signing secret.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import quote, unquote

from storage.blob_uris import check_blob_key, check_content_type, split_blob_uri
from storage.errors import NotFoundError, StorageError, UnavailableError, ValidationError
from storage.files import signing

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_RESERVED = ".stowage"


class FileBlobStore:
    """Blobs in a local folder.

    Args:
        root: the folder (created on first write or by :meth:`setup`).
        public_url: base of the download URLs; default ``STOWAGE_PUBLIC_URL`` or
            ``http://127.0.0.1:4111`` (the dev server).
    """

    def __init__(self, root: str | Path, *, public_url: str | None = None) -> None:
        self.root = Path(root).absolute()
        self._public_url = public_url
        self._secret: bytes | None = None

    # --- keys and URIs ---------------------------------------------------------------

    def _path(self, key: str, *, prefix: bool = False) -> Path:
        """The file of ``key``; refuses anything that could leave the root."""
        check_blob_key(key, prefix=prefix)
        parts = [p for p in key.split("/") if p] if prefix else key.split("/")
        if parts[0].startswith(_RESERVED):
            raise ValidationError(f"blob keys starting with {_RESERVED!r} are reserved")
        path = self.root.joinpath(*parts)
        # A symlink inside the root could still point outside it.
        resolved_root = self.root.resolve()
        if not path.resolve().is_relative_to(resolved_root):
            raise ValidationError(f"blob key {key!r} escapes the blob folder")
        return path

    def _meta_path(self, key: str) -> Path:
        return self.root / ".stowage-meta" / f"{key}.content-type"

    def uri_for(self, key: str) -> str:
        """The URI of ``key`` (``file:///abs/path``)."""
        return self._path(key).as_uri()

    def key_of(self, uri: str) -> str:
        """The key a URI of this store names.

        ``file:///<root>/<key>`` (or ``file://localhost/...``), percent-decoded once as
        a file URI is; split by :func:`storage.blob_uris.split_blob_uri`, so a query, a
        fragment or a ``..`` (encoded or not) never reaches the folder.

        Raises:
            ValidationError: not a ``file://`` URI under this store's root.
        """
        parts = split_blob_uri(uri)
        if parts.scheme != "file" or parts.host not in ("", "localhost"):
            raise ValidationError(f"{uri!r} is not a file:// URI of this machine")
        try:
            raw = unquote("/" + parts.path, errors="strict")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{uri!r} percent-encodes bytes that are not UTF-8") from exc
        root = self.root.as_posix().rstrip("/") + "/"
        if not raw.startswith(root):
            raise ValidationError(f"{uri!r} is not in the blob folder {self.root}")
        key = raw[len(root) :]
        self._path(key)  # the same checks as a key given directly
        return key

    # --- blob protocol ---------------------------------------------------------------

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> str:
        """Store ``data`` (bytes, or a binary file object read in chunks) under ``key``.

        Returns:
            The blob's ``file://`` URI.
        """
        path = self._path(key)
        check_content_type(content_type)
        if not isinstance(data, bytes | bytearray | memoryview) and not hasattr(data, "read"):
            raise ValidationError("blob data must be bytes or a binary file object")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    if isinstance(data, bytes | bytearray | memoryview):
                        out.write(data)
                    else:
                        self._copy(data, out)
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            self._write_content_type(key, content_type)
        except OSError as exc:
            raise UnavailableError(f"files: cannot write {key!r}: {exc}") from exc
        return path.as_uri()

    @staticmethod
    def _copy(source: BinaryIO, out: BinaryIO) -> None:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                return
            if isinstance(chunk, str):
                raise ValidationError("blob data must be opened in binary mode")
            out.write(chunk)

    def _write_content_type(self, key: str, content_type: str | None) -> None:
        meta = self._meta_path(key)
        if content_type is None:
            meta.unlink(missing_ok=True)
            return
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(content_type, encoding="utf-8")

    def get(self, uri: str) -> bytes:
        """The blob's bytes.

        Raises:
            NotFoundError: no such blob.
            ValidationError: the URI is not one of this store's.
        """
        with self.open(uri) as handle:
            return handle.read()

    def open(self, uri: str) -> BinaryIO:
        """The blob as an open binary file (close it when done)."""
        key = self.key_of(uri)
        try:
            return cast(BinaryIO, self._path(key).open("rb"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"no blob {key!r}") from exc
        except OSError as exc:
            raise UnavailableError(f"files: cannot read {key!r}: {exc}") from exc

    def content_type(self, uri: str) -> str | None:
        """The content type given when the blob was stored, or ``None``."""
        key = self.key_of(uri)
        try:
            return self._meta_path(key).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def delete(self, uris: Sequence[str]) -> None:
        """Delete blobs; missing ones are ignored."""
        if isinstance(uris, str):
            raise ValidationError("delete takes a list of URIs, not a single string")
        for key in [self.key_of(u) for u in uris]:
            self._unlink(key)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob whose key starts with ``prefix`` (which must not be empty)."""
        folder_part, _, _ = prefix.rpartition("/") if isinstance(prefix, str) else ("", "", "")
        self._path(prefix, prefix=True)  # validates, refuses '' and '..'
        base = self.root / folder_part if folder_part else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*"), reverse=True):
            relative = path.relative_to(self.root).as_posix()
            if relative.startswith(_RESERVED) or path.name.startswith(".tmp-"):
                continue
            if path.is_file() and relative.startswith(prefix):
                self._unlink(relative)
        self._prune_empty(base)

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every blob key starting with ``prefix`` (which must not be empty), sorted."""
        folder_part, _, _ = prefix.rpartition("/") if isinstance(prefix, str) else ("", "", "")
        self._path(prefix, prefix=True)  # validates, refuses '' and '..'
        base = self.root / folder_part if folder_part else self.root
        if not base.is_dir():
            return iter(())
        keys = []
        for path in base.rglob("*"):
            relative = path.relative_to(self.root).as_posix()
            if relative.startswith(_RESERVED) or path.name.startswith(".tmp-"):
                continue
            if path.is_file() and relative.startswith(prefix):
                keys.append(relative)
        return iter(sorted(keys))

    def _unlink(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
            self._meta_path(key).unlink(missing_ok=True)
        except IsADirectoryError:
            return
        except OSError as exc:
            raise UnavailableError(f"files: cannot delete {key!r}: {exc}") from exc

    def _prune_empty(self, folder: Path) -> None:
        # Remove folders a deleted thread leaves empty, up to (not including) the root.
        current = folder
        while current != self.root and current.is_relative_to(self.root):
            try:
                current.rmdir()
            except OSError:
                return
            current = current.parent

    def url_for(self, uri: str, *, expires_in: int = 900) -> str:
        """A signed dev-server URL that downloads the blob until ``expires_in`` seconds pass."""
        key = self.key_of(uri)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
            raise ValidationError("expires_in must be a positive number of seconds")
        expires = int(time.time()) + expires_in
        query = f"expires={expires}&signature={self.sign(key, expires)}"
        return f"{self.public_url}/api/blobs/{quote(key, safe='/')}?{query}"

    def verify_signature(self, key: str, expires: int | str, signature: str) -> bool:
        """Whether a download URL's ``expires`` and ``signature`` are valid for ``key``.

        ``key`` is the URL path after ``/api/blobs/``, percent-decoded.
        """
        return signing.verify(self._signing_secret(), key, expires, signature)

    def sign(self, message: str, expires: int) -> str:
        """The signature :meth:`verify_signature` accepts for ``message`` until ``expires``.

        ``url_for`` signs a key; the dev server signs upload grants the same way.
        """
        return signing.sign(self._signing_secret(), message, int(expires))

    @property
    def public_url(self) -> str:
        """Base of the download URLs (the dev server), without a trailing slash."""
        return signing.public_base(self._public_url)

    def _signing_secret(self) -> bytes:
        if self._secret is None:
            self._secret = signing.load_secret(self.root / ".stowage-secret")
        return self._secret

    # --- store lifecycle -------------------------------------------------------------

    def setup(self) -> None:
        """Create the folder."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UnavailableError(f"files: cannot create {self.root}: {exc}") from exc

    def close(self) -> None:
        """Nothing to release."""

    def clear(self) -> None:
        """Delete every blob (tests and ``make clean``); the secret is kept."""
        if not self.root.is_dir():
            return
        for child in self.root.iterdir():
            if child.name == ".stowage-secret":
                continue
            try:
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            except OSError as exc:
                raise StorageError(f"files: cannot clear {child}: {exc}") from exc


class FileStore:
    """The store ``file://`` URLs open: only the ``blobs`` domain."""

    memory = None
    workflows = None
    observability = None
    scores = None

    def __init__(self, root: str | Path, *, public_url: str | None = None) -> None:
        self.blobs = FileBlobStore(root, public_url=public_url)

    def setup(self) -> None:
        """Create the folder."""
        self.blobs.setup()

    def close(self) -> None:
        """Nothing to release."""
        self.blobs.close()

    def __repr__(self) -> str:
        return f"FileStore({str(self.blobs.root)!r})"
