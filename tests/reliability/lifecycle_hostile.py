"""Hostile resource archives and a victim to import them next to (issue 16's red team).

:func:`good_archive` exports the conformance dataset; :func:`zip_of` builds an archive
member by member, with any member name, duplicate or header a zip can hold (the
standard ``zipfile`` writer refuses some of them; this one writes what it is told);
:func:`with_manifest` recomputes the manifest for changed members, as a careful forger
would, so only the planted fault is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import storage
from storage.keys import attachment_key
from storage.lifecycle import export_resource
from tests.storage.conformance.archive_data import Seeded, members, seed
from tests.storage.conformance.helpers import content, make_message, make_thread

VICTIM = "bob"
VICTIM_THREAD = "bob-thread"
VICTIM_BYTES = b"bob's private attachment"


def good_archive() -> tuple[bytes, Seeded]:
    """An honest archive of the conformance dataset (with one attachment)."""
    source = storage.open("memory://")
    seeded = seed(source)
    out = io.BytesIO()
    export_resource(source, seeded.resource, out)
    return out.getvalue(), seeded


def plant_victim(store: Any) -> str:
    """Bob's thread, message and attachment in ``store``; the attachment's URI."""
    store.memory.save_thread(make_thread(VICTIM, thread_id=VICTIM_THREAD, created=1))
    sha = hashlib.sha256(VICTIM_BYTES).hexdigest()
    uri: str = store.blobs.put(attachment_key(VICTIM, VICTIM_THREAD, sha), VICTIM_BYTES,
                               content_type="text/plain")
    store.memory.save_messages([make_message(VICTIM_THREAD, "bob's secret", created=2)])
    return uri


def zip_of(entries: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``(name, bytes)`` entries in that order, duplicates and odd names kept."""
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", compression) as archive:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": wanted here
        for name, body in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 12, 0, 0))
            info.compress_type = compression
            archive.writestr(info, body)
    return out.getvalue()


def manifest_for(parts: dict[str, bytes], base: dict[str, Any]) -> bytes:
    """``base`` (a manifest) with members, sizes, checksums and counts of ``parts``."""
    body = json.loads(json.dumps(base))
    body["members"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in parts.items() if name != "manifest.json"
    }
    for name, data in parts.items():
        if name.startswith("records/"):
            body["counts"][name[len("records/"):-len(".jsonl")]] = data.count(b"\n")
    body["counts"]["blobs"] = sum(1 for n in parts if n.startswith("blobs/"))
    return json.dumps(body).encode()


def with_manifest(good: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    """The archive with ``change`` applied to its members and the manifest made to agree."""
    parts = members(good)
    base = json.loads(parts["manifest.json"])
    change(parts)
    parts["manifest.json"] = manifest_for(parts, base)
    return zip_of(list(parts.items()))


def set_first_attachment(value: str) -> Callable[[dict[str, bytes]], None]:
    """A change pointing the first message's ``file`` part at ``value``."""
    def change(parts: dict[str, bytes]) -> None:
        name = "records/messages.jsonl"
        lines = parts[name].decode().splitlines()
        body = json.loads(lines[0])
        body["content"] = content("look", parts=[
            {"type": "text", "text": "look"},
            {"type": "file", "data": value, "mimeType": "text/plain"},
        ])
        lines[0] = json.dumps(body)
        parts[name] = ("\n".join(lines) + "\n").encode()
    return change


def nested(depth: int) -> bytes:
    """A JSON array nested ``depth`` deep."""
    return b"[" * depth + b"]" * depth
