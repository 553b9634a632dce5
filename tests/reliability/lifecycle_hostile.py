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
from storage.keys import attachment_key, resource_attachment_prefix
from storage.lifecycle import export_resource
from storage.lifecycle.inventory import ResourceInventory
from storage.records import Score, Span
from tests.storage.conformance.archive_data import Seeded, members, seed
from tests.storage.conformance.backends import BACKENDS
from tests.storage.conformance.helpers import at, content, make_message, make_thread

# Backends with a blob store, one of each kind (memory, a folder, S3).
BLOB_BACKENDS = [b for b in BACKENDS if b.name in ("memory", "sqlite+files", "dynamodb+s3")]

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


# --- a resource with one of everything, and what is left of it --------------------------


def fill(store: Any, resource: str, n: int) -> None:
    """A thread with a message, working memory, a run, a score, a trace and a blob, all
    numbered ``n``, for ``resource``."""
    thread = store.memory.save_thread(make_thread(resource, created=n))
    store.memory.save_messages([make_message(thread.id, f"secret {n}", created=n)])
    store.memory.update_resource(resource, working_memory=f"wm {n}")
    if store.workflows is not None:
        store.workflows.persist_snapshot("wf", f"run-{n}", {"n": n}, resource_id=resource)
    if store.scores is not None:
        store.scores.save_score(Score(id=f"score-{n}", scorer_id="s", score=1.0,
                                      run_id=f"run-{n}", created_at=at(n), resource_id=resource))
    if store.observability is not None:
        store.observability.create_spans([Span(
            trace_id=f"trace-{n}", span_id="root", name="x", span_type="agent_run",
            started_at=at(n), resource_id=resource)])
    if store.blobs is not None:
        store.blobs.put(attachment_key(resource, thread.id, f"{n:064x}"), b"x")


def holdings(store: Any, resource: str) -> tuple[int, ...]:
    """How many of each ``resource`` holds: (resource record, threads, runs, scores,
    traces[, attachment blobs])."""
    inv = ResourceInventory(store, resource)
    held = (int(inv.resource() is not None), len(list(inv.threads())), len(list(inv.runs())),
            len(list(inv.scores())), len(list(inv.traces())))
    if store.blobs is not None:
        held += (len(list(store.blobs.list_keys(resource_attachment_prefix(resource)))),)
    return held
