"""Export one resource from a store and import it into another (issue 16).

    >>> from storage.lifecycle import export_resource, import_archive
    >>> manifest = export_resource(source, "user-1", "user-1.zip")
    >>> receipt = import_archive(target, "user-1.zip")

The format (one zip: ``manifest.json``, JSON Lines per domain, blobs by SHA-256) is
described in :mod:`storage.lifecycle.archive_format`; the checks in
:mod:`storage.lifecycle.archive_check`; the writes in
:mod:`storage.lifecycle.archive_import`. ``dest``/``src`` is a local path, a binary
file object, or ``s3://<bucket>/<key>?region=&endpoint=`` (uploaded and downloaded
through :class:`~storage.s3.store.S3BlobStore`, so encrypted and streamed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import unquote, urlsplit

from storage.errors import ArchiveError, ValidationError
from storage.lifecycle.archive_check import check_archive
from storage.lifecycle.archive_export import write_archive
from storage.lifecycle.archive_format import Manifest
from storage.lifecycle.archive_import import ImportReceipt, import_checked

Target = str | os.PathLike[str] | IO[bytes]
_CHUNK = 1024 * 1024


def export_resource(store: Any, resource_id: str, dest: Target) -> Manifest:
    """Write everything ``store`` holds for ``resource_id`` to one archive at ``dest``.

    A local path is written to a temporary file beside it and renamed into place, so
    ``dest`` never holds half an archive; a file object is written from its current
    position (it need not be seekable); an ``s3://`` URL is uploaded once complete.
    Vectors are not archived (re-embed after an import). A resource the store does not
    know gives an archive with no records.

    Returns:
        The archive's manifest (counts per domain, members with their SHA-256).

    Raises:
        ValidationError: a bad resource id or destination.
    """
    if isinstance(dest, str) and dest.lower().startswith("s3://"):
        blobs, key = _s3(dest)
        with tempfile.TemporaryFile() as buffer:
            manifest = write_archive(store, resource_id, buffer)
            buffer.seek(0)
            blobs.put(key, buffer, content_type="application/zip")
        return manifest
    if isinstance(dest, str | os.PathLike):
        path = Path(dest)
        if not path.parent.is_dir():
            raise ValidationError(f"the folder {str(path.parent)!r} does not exist")
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                manifest = write_archive(store, resource_id, out)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return manifest
    return write_archive(store, resource_id, cast(IO[bytes], _Unseekable(dest)))


def import_archive(store: Any, src: Target) -> ImportReceipt:
    """Recreate the archive's resource in ``store``; nothing is written unless all checks pass.

    Checked first, whole: the manifest, every member's size and SHA-256, every record
    (parsed and validated as a store would), that every record is the manifest's
    resource's, that every attachment reference has its blob, that no message names a
    blob of ``store`` outside the resource's attachments, and that no id of the
    archive belongs to another resource or thread in ``store``. Then written by
    upserts (blobs first, under the target's keys, their URIs written into the
    messages), so running it again after a crash completes the import and duplicates
    nothing. Records of the resource already in ``store`` and not in the archive are
    kept; records of other resources are never touched.

    Returns:
        A receipt: counts per domain and blobs, time taken; no content.

    Raises:
        ArchiveError: the archive failed a check (the member and line are named).
        MessageIdConflictError: a message id lives in another thread of ``store``.
        ConflictError: a thread, run, trace or score id belongs to another resource.
        ValidationError: ``store`` lacks a domain the archive fills, or a bad ``src``.
    """
    with _readable(src) as source:
        archive = check_archive(source)
        with archive.zip:
            return import_checked(store, archive)


@contextmanager
def _readable(src: Target) -> Iterator[IO[bytes]]:
    """A seekable binary file over ``src`` (a download or a copy when it is not)."""
    if isinstance(src, str) and src.lower().startswith("s3://"):
        blobs, key = _s3(src)
        with tempfile.TemporaryFile() as buffer:
            body = blobs.open(blobs.uri_for(key))
            try:
                shutil.copyfileobj(body, buffer, _CHUNK)
            finally:
                body.close()
            buffer.seek(0)
            yield buffer
        return
    if isinstance(src, str | os.PathLike):
        path = Path(src)
        if not path.is_file():
            raise ValidationError(f"no archive at {str(path)!r}")
        with path.open("rb") as handle:
            yield handle
        return
    seekable = getattr(src, "seekable", None)
    if callable(seekable) and seekable():
        yield src
        return
    with tempfile.TemporaryFile() as buffer:
        shutil.copyfileobj(src, buffer, _CHUNK)
        buffer.seek(0)
        yield buffer


def _s3(url: str) -> tuple[Any, str]:
    """The S3 blob store of ``s3://bucket/key?region=&endpoint=`` (bucket root) and the key."""
    from storage.s3.store import OPTIONS, S3BlobStore
    from storage.urls import url_options

    parsed = urlsplit(url)
    options = url_options(parsed, OPTIONS)
    key = unquote(parsed.path).lstrip("/")
    if not key:
        raise ValidationError(f"{url!r} names no object key (s3://bucket/key)")
    blobs = S3BlobStore(
        parsed.netloc,
        "",
        region=options.get("region") or None,
        endpoint=options.get("endpoint") or None,
        kms_key_id=options.get("kms_key") or None,
    )
    return blobs, key


class _Unseekable:
    """A write-only view of a caller's file, so zipfile streams (data descriptors) and
    never seeks back into it: a pipe or a socket works."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self._written = 0

    def write(self, data: bytes) -> int:
        self._target.write(data)
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        self._target.flush()

    def seekable(self) -> bool:
        return False


__all__ = ["ArchiveError", "ImportReceipt", "Manifest", "export_resource", "import_archive"]
