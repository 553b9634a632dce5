"""Blob URIs and keys: one parser and one key rule shared by every blob store.

A blob URI names one blob of one store: ``file:///<abs folder>/<key>`` (the key
percent-encoded as a file URI), ``s3://<bucket>/<prefix>/<key>`` and
``memory://blobs/<key>`` (the key as it is). Each store's ``key_of(uri)`` splits the
URI here and checks the parts that are its own (folder, bucket and prefix), so the
key a caller's URI is checked against is exactly the key the store would read:
ownership is decided on that key (``storage.keys.is_attachment_of``), never on a
substring of the URI. Anything ambiguous is refused rather than interpreted: a
query or a fragment (``...?/attachments/alice/``), a user, a port, control
characters, surrounding spaces, ``.``/``..`` segments (also percent-encoded).
The scheme is matched without regard to case (RFC 3986), so ``FILE:///`` names the
same blob as ``file:///`` and is checked as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.errors import ValidationError
from storage.keys import is_attachment_of

if TYPE_CHECKING:
    from storage.protocols import BlobStore

MAX_URI_LENGTH = 4096
MAX_KEY_LENGTH = 1024
"""S3's limit on a key (bytes of UTF-8); every store keeps it so a key moves between them."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_CONTENT_TYPE_LENGTH = 255
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_CONTENT_TYPE = re.compile(
    rf'^{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|"[^"\\\x00-\x1f\x7f]*"))*$',
    re.ASCII,
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class BlobUri:
    """A blob URI split into its parts; the store decides what the parts mean.

    Attributes:
        scheme: lower-cased (``file``, ``s3``, ``memory``).
        host: what follows ``//`` up to the next ``/`` (a bucket, ``blobs``, ``""``).
        path: the rest after that ``/``, as written (not percent-decoded).
    """

    scheme: str
    host: str
    path: str


def split_blob_uri(uri: object) -> BlobUri:
    """Split ``scheme://host/path``, refusing anything a store could read two ways.

    Raises:
        ValidationError: not a string, too long, no ``scheme://``, a query or a
            fragment, a user or a port, control characters or surrounding spaces.
    """
    if not isinstance(uri, str):
        raise ValidationError(f"blob URI must be a string, got {type(uri).__name__}")
    if len(uri) > MAX_URI_LENGTH:
        raise ValidationError(f"blob URI is longer than {MAX_URI_LENGTH} characters")
    if uri != uri.strip() or _CONTROL.search(uri):
        raise ValidationError("blob URI has surrounding spaces or control characters")
    match = _SCHEME.match(uri)
    if match is None:
        raise ValidationError(f"{_shown(uri)} is not a blob URI (scheme://...)")
    if "?" in uri or "#" in uri:
        raise ValidationError(f"blob URI {_shown(uri)} must not have a query or a fragment")
    host, slash, path = uri[match.end() :].partition("/")
    if "@" in host or ":" in host:
        raise ValidationError(f"blob URI {_shown(uri)} must not name a user or a port")
    if not slash:
        raise ValidationError(f"blob URI {_shown(uri)} names no blob")
    return BlobUri(match.group(1).lower(), host, path)


def check_blob_key(key: object, *, prefix: bool = False) -> str:
    """A blob key every store accepts the same way.

    A relative ``/``-separated path of at most :data:`MAX_KEY_LENGTH` bytes with no
    empty, ``.`` or ``..`` segment, no ``\\``, ``?``, ``#`` or control character (so
    the key reads back from its URI unchanged on every store). With ``prefix`` the
    last segment may be empty (``attachments/u/``).

    Raises:
        ValidationError: the key breaks one of these rules.
    """
    if not isinstance(key, str) or not key.strip():
        raise ValidationError(f"blob key must be a non-empty string, got {key!r}")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_LENGTH:
        raise ValidationError(f"blob key is longer than {MAX_KEY_LENGTH} bytes")
    if _CONTROL.search(key) or any(c in key for c in "\\?#"):
        raise ValidationError(
            f"blob key {key[:80]!r} must not hold control characters, '\\', '?' or '#'"
        )
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("blob key is not valid UTF-8 (a lone surrogate)") from exc
    if key.startswith("/"):
        raise ValidationError(f"blob key {key[:80]!r} must be relative")
    parts = key.split("/")
    if prefix and parts[-1] == "":
        parts = parts[:-1]
    if not parts or any(part.strip() in ("", ".", "..") for part in parts):
        raise ValidationError(f"blob key {key[:80]!r} has an empty, '.' or '..' segment")
    return key


def check_content_type(value: object) -> str | None:
    """A blob's content type every store keeps and serves the same way, or ``None``.

    ``type/subtype`` with optional ``; name=value`` parameters (RFC 9110 tokens or
    quoted strings), printable ASCII, at most :data:`MAX_CONTENT_TYPE_LENGTH`
    characters. Every blob store checks it in ``put``: the type is sent back as a
    header (S3's ``Content-Type``, the dev server's download), so a CR/LF, a NUL or a
    non-ASCII character must never reach one, whoever supplied it (a caller's
    attachment, an archive's manifest).

    Raises:
        ValidationError: anything else.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"content type must be a string, got {type(value).__name__}")
    if len(value) > MAX_CONTENT_TYPE_LENGTH or not _CONTENT_TYPE.fullmatch(value):
        raise ValidationError(
            f"content type {value[:80]!r} is not a MIME type (type/subtype, printable ASCII, "
            f"at most {MAX_CONTENT_TYPE_LENGTH} characters)"
        )
    return value


def attachment_key_of(blobs: BlobStore, uri: str, resource_id: str) -> str:
    """The key ``uri`` names in ``blobs``, if it is one of ``resource_id``'s attachments.

    The ownership check for blob URIs that come from callers: parse with the store's
    own :meth:`~storage.protocols.BlobStore.key_of` (what a read would use), then
    compare the key with ``attachments/<resource>/``.

    Raises:
        ValidationError: not a URI of this store, or not that resource's attachment.
    """
    key = blobs.key_of(uri)
    if not is_attachment_of(key, resource_id):
        raise ValidationError("the blob is not one of this resource's attachments")
    return key


def _shown(uri: str) -> str:
    return repr(uri if len(uri) <= 120 else uri[:117] + "...")


__all__ = [
    "MAX_KEY_LENGTH",
    "BlobUri",
    "attachment_key_of",
    "check_blob_key",
    "check_content_type",
    "split_blob_uri",
]
