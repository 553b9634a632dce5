"""Blob keys shared by every backend, so a thread's blobs can be found and deleted."""

from __future__ import annotations

from urllib.parse import quote


def _part(value: str) -> str:
    # Ids may hold "/" or spaces; a quoted id is one path segment in any store.
    return quote(value, safe="")


def thread_attachment_prefix(resource_id: str, thread_id: str) -> str:
    """``attachments/<resource>/<thread>/``: every attachment of a thread lives here."""
    return f"attachments/{_part(resource_id)}/{_part(thread_id)}/"


def attachment_key(resource_id: str, thread_id: str, sha256_hex: str) -> str:
    """Content-addressed: the same bytes in one thread are stored once."""
    return thread_attachment_prefix(resource_id, thread_id) + sha256_hex


def offload_key(domain: str, *parts: str) -> str:
    """``offload/<domain>/<part>/...``: where a backend puts an attribute too big for an item."""
    return "/".join(["offload", domain, *(_part(p) for p in parts)])


def offload_prefix(domain: str, *parts: str) -> str:
    """The prefix of every offloaded attribute under ``parts`` (ends with ``/``)."""
    return offload_key(domain, *parts) + "/"
