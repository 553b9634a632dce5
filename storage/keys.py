"""Blob keys shared by every backend, so a thread's blobs can be found and deleted."""

from __future__ import annotations

from urllib.parse import quote


def _part(value: str) -> str:
    """One path segment for an id, in any store: ``/``, spaces, ``%`` percent-encoded, and
    an id that is all dots (``.``, ``..``) with its dots encoded too (``%2E%2E``), since
    no store takes a ``.`` or ``..`` segment (``storage.blob_uris.check_blob_key``): a
    resource named ``..`` gets a prefix of its own, and its erase completes.

    Injective: ``%`` itself is encoded, so no other id quotes to ``%2E``.
    """
    quoted = quote(value, safe="")
    return "%2E" * len(value) if quoted in (".", "..") else quoted


def resource_attachment_prefix(resource_id: str) -> str:
    """``attachments/<resource>/``: every attachment of every thread of a resource."""
    return f"attachments/{_part(resource_id)}/"


def thread_attachment_prefix(resource_id: str, thread_id: str) -> str:
    """``attachments/<resource>/<thread>/``: every attachment of a thread lives here."""
    return f"{resource_attachment_prefix(resource_id)}{_part(thread_id)}/"


def is_attachment_of(key: str, resource_id: str) -> bool:
    """Whether blob ``key`` (a store's key, from its ``key_of``) is one of the resource's
    attachments. Compare keys, never URIs: a URI can hide another key behind a query,
    a fragment, a case change or an encoding."""
    return key.startswith(resource_attachment_prefix(resource_id))


EXPORTS_PREFIX = "exports/"
"""Where resource archives exported over HTTP live (short-lived: the bucket expires them)."""


def resource_export_prefix(resource_id: str) -> str:
    """``exports/<resource>/``: every archive exported for a resource (personal data:
    erase deletes it with the resource's other blobs)."""
    return f"{EXPORTS_PREFIX}{_part(resource_id)}/"


def attachment_key(resource_id: str, thread_id: str, sha256_hex: str) -> str:
    """Content-addressed: the same bytes in one thread are stored once."""
    return thread_attachment_prefix(resource_id, thread_id) + sha256_hex


def offload_key(domain: str, *parts: str) -> str:
    """``offload/<domain>/<part>/...``: where a backend puts an attribute too big for an item."""
    return "/".join(["offload", domain, *(_part(p) for p in parts)])


def offload_prefix(domain: str, *parts: str) -> str:
    """The prefix of every offloaded attribute under ``parts`` (ends with ``/``)."""
    return offload_key(domain, *parts) + "/"
