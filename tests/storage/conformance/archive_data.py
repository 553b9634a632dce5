"""The archive tests' dataset, its comparison across stores, and archive surgery.

One resource with everything a resource can own (working memory, two threads, an
attachment named twice, an oversize message that DynamoDB offloads, a run, a trace of
two spans, a score) and a second resource beside it that must never move.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from storage.keys import attachment_key
from storage.lifecycle.archive_format import attachment_slots
from storage.lifecycle.inventory import ResourceInventory
from storage.records import Score, Span
from tests.storage.conformance.helpers import at, content, make_message, make_thread, uid

PNG = bytes(range(256)) * 40 + b"\x89PNG\r\n"
BIG_TEXT = "x" * 400_000  # over DynamoDB's 350 KiB offload threshold


@dataclass(frozen=True)
class Seeded:
    """The ids the dataset used: ``resource`` (exported) and ``other`` (never touched)."""

    resource: str
    other: str
    other_thread: str


def seed(store: Any, *, resource: str | None = None, big: bool = True) -> Seeded:
    """Fill ``store`` with the dataset for a fresh resource, and another resource's data.

    ``big=False`` leaves the oversize message out (for a target that cannot offload).
    """
    rid, other = resource or uid("res"), uid("other")
    memory = store.memory
    memory.update_resource(rid, working_memory="# Alice\n- likes tea", metadata={"plan": "pro"})
    first = memory.save_thread(make_thread(rid, created=1, title="First", metadata={"n": 1}))
    second = memory.save_thread(make_thread(rid, created=2))
    messages = [
        make_message(first.id, "hello", created=10),
        make_message(first.id, "hi there", created=11, role="assistant"),
        make_message(second.id, BIG_TEXT if big else "not so big", created=20),
    ]
    if store.blobs is not None:
        uri = store.blobs.put(attachment_key(rid, first.id, hashlib.sha256(PNG).hexdigest()),
                              PNG, content_type="image/png")
        messages.append(replace(make_message(first.id, created=12), content=content(
            "see the picture",
            parts=[{"type": "text", "text": "see"},
                   {"type": "file", "data": uri, "mimeType": "image/png"}],
            experimental_attachments=[{"name": "a.png", "contentType": "image/png", "url": uri}],
        )))
    memory.save_messages(messages)
    if store.workflows is not None:
        store.workflows.persist_snapshot("agent", uid("run"), {"status": "success", "n": [1.5]},
                                         resource_id=rid)
    trace = uid("trace")
    if store.observability is not None:
        store.observability.create_spans([
            Span(trace_id=trace, span_id="root", name="agent run", span_type="agent_run",
                 started_at=at(30), ended_at=at(31), resource_id=rid, thread_id=first.id,
                 attributes={"model": "echo"}, input={"q": "hello"}),
            Span(trace_id=trace, span_id="child", name="llm", span_type="model_generation",
                 started_at=at(30.5), parent_span_id="root", output="hi there"),
        ])
    if store.scores is not None:
        store.scores.save_score(Score(id=uid("score"), scorer_id="relevance", score=0.75,
                                      run_id=uid("run"), created_at=at(40), resource_id=rid,
                                      trace_id=trace, metadata={"k": "v"}))
    # Another resource, beside it.
    other_thread = memory.save_thread(make_thread(other, created=3, title="Bob's"))
    memory.save_messages([make_message(other_thread.id, "bob's secret", created=50)])
    memory.update_resource(other, working_memory="bob")
    return Seeded(rid, other, other_thread.id)


def snapshot(store: Any, resource_id: str) -> dict[str, Any]:
    """Every record of the resource through the API, attachments as their bytes' SHA-256."""
    inv = ResourceInventory(store, resource_id)
    threads = list(inv.threads())
    out: dict[str, Any] = {
        "resource": inv.resource(),
        "threads": threads,
        "messages": [_portable(store, m) for t in threads for m in inv.messages(t.id)],
        "runs": list(inv.runs()),
        "spans": [s for root in inv.traces() for s in inv.spans(root.trace_id)],
        "scores": list(inv.scores()),
    }
    return out


def _portable(store: Any, message: Any) -> Any:
    copy = json.loads(json.dumps(message.content))
    for holder, key, _ in attachment_slots(copy):
        data = store.blobs.get(holder[key])
        holder[key] = "sha256:" + hashlib.sha256(data).hexdigest()
    return replace(message, content=copy)


def attachment_uris(store: Any, resource_id: str) -> list[str]:
    """The blob URIs the resource's messages hold."""
    inv = ResourceInventory(store, resource_id)
    return sorted({
        holder[key]
        for t in inv.threads() for m in inv.messages(t.id)
        for holder, key, _ in attachment_slots(m.content)
    })


# --- archive surgery ----------------------------------------------------------------------


def members(data: bytes) -> dict[str, bytes]:
    """Every member of an archive by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rebuild(data: bytes, change: Callable[[dict[str, bytes]], None], *,
            fix_manifest: bool = True) -> bytes:
    """The archive with ``change`` applied to its members; the manifest's checksums,
    sizes and counts recomputed when ``fix_manifest`` (so only the change is wrong)."""
    parts = members(data)
    change(parts)
    if fix_manifest:
        manifest = json.loads(parts["manifest.json"])
        manifest["members"] = {
            name: {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
            for name, body in parts.items() if name != "manifest.json"
        }
        for name, body in parts.items():
            if name.startswith("records/"):
                manifest["counts"][name[8:-6]] = body.count(b"\n")
        manifest["counts"]["blobs"] = sum(1 for n in parts if n.startswith("blobs/"))
        parts["manifest.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return out.getvalue()


def edit_record(parts: dict[str, bytes], domain: str, edit: Callable[[dict[str, Any]], None],
                line: int = 0) -> None:
    """Apply ``edit`` to record ``line`` (0-based) of ``records/<domain>.jsonl``."""
    name = f"records/{domain}.jsonl"
    lines = parts[name].decode().splitlines()
    body = json.loads(lines[line])
    edit(body)
    lines[line] = json.dumps(body)
    parts[name] = ("\n".join(lines) + "\n").encode()


# --- faults --------------------------------------------------------------------------------


class ImportFault(Exception):
    """Raised by :func:`fail_writes_after` (no storage code catches it)."""


WRITES = {
    "blobs": ("put",),
    "memory": ("save_thread", "save_messages", "update_resource"),
    "workflows": ("persist_snapshot", "delete_run"),
    "observability": ("create_spans",),
    "scores": ("save_score",),
}


@contextmanager
def fail_writes_after(store: Any, writes: int) -> Iterator[dict[str, int]]:
    """Every write through the store's domains after the first ``writes`` raises."""
    state = {"writes": 0}
    patched: list[tuple[Any, str]] = []
    for domain, methods in WRITES.items():
        target = getattr(store, domain, None)
        if target is None:
            continue
        for name in methods:
            original = getattr(target, name)

            def failing(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
                state["writes"] += 1
                if state["writes"] > writes:
                    raise ImportFault(f"write {state['writes']} failed")
                return __original(*args, **kwargs)

            setattr(target, name, failing)
            patched.append((target, name))
    try:
        yield state
    finally:
        for target, name in patched:
            delattr(target, name)
