"""X1: what ``POST /api/memory/resources/{resourceId}/export`` holds in memory.

A resource on the embedded default (SQLite + a blob folder) with 200 messages and one
incompressible 40 MiB attachment is exported through the api handler; Python's peak
traced allocation during the request (``tracemalloc``) is compared with the archive's
size. The archive is spooled to disk and streamed into the blob store, so the peak
must stay a small fraction of the archive (the bytes are never held in memory, let
alone twice). Also: wall time of the request (under ``tracemalloc``, so slower than
real) and the archive's size.

Results: ``exports.json`` in the bench output folder (``make bench-save``:
``bench/results/``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.output import write_json

ATTACHMENT_MIB = 40
MESSAGES = 200
RESOURCE = "bench-user"


def _seed(store: Any, folder: Path) -> None:
    from storage.keys import attachment_key
    from storage.records import Message, Thread

    store.memory.save_thread(Thread(id="bench-t", resource_id=RESOURCE))
    blob = folder / "attachment.bin"
    with blob.open("wb") as out:
        for _ in range(ATTACHMENT_MIB):
            out.write(os.urandom(1024 * 1024))
    with blob.open("rb") as data:
        uri = store.blobs.put(attachment_key(RESOURCE, "bench-t", "a" * 64), data,
                              content_type="application/octet-stream")
    store.memory.save_messages([
        Message(id=f"bench-m{i}", thread_id="bench-t", role="user", content={
            "format": 2, "parts": [{"type": "text", "text": f"message {i} " + "x" * 500}],
            **({"experimental_attachments": [{"name": "a.bin", "url": uri,
                                              "contentType": "application/octet-stream"}]}
               if i == 0 else {})})
        for i in range(MESSAGES)])


def measure() -> dict[str, Any]:
    """Export once through the api handler; peak traced memory, time and sizes."""
    import storage
    from agents import Agent, App, InlineJobRunner
    from handlers import _wiring
    from handlers.api import handler
    from handlers.events import LocalContext, rest_event

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = storage.CompositeStore(storage.open(f"sqlite:///{folder}/stowage.db"),
                                       blobs=storage.open(f"file:///{folder}/blobs"))
        store.setup()
        _seed(store, folder)
        _wiring.use_app(App(agents=[Agent(id="assistant", model="local/echo")], storage=store,
                            jobs=InlineJobRunner()))
        event = rest_event("POST", f"/api/memory/resources/{RESOURCE}/export")
        tracemalloc.start()
        started = time.perf_counter()
        result = handler(event, LocalContext())
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        _wiring.use_app(None)
        body = json.loads(result["body"])
        if result["statusCode"] != 200:
            raise RuntimeError(f"export failed: {result['statusCode']} {body}")
        size = body["manifest"]["size"]
        return {
            "messages": MESSAGES,
            "attachment_mib": ATTACHMENT_MIB,
            "archive_bytes": size,
            "peak_traced_bytes": peak,
            "peak_over_archive": round(peak / size, 4),
            "response_bytes": len(result["body"]),
            "seconds_under_tracemalloc": round(elapsed, 3),
        }


def main() -> int:
    """Run X1 and write ``exports.json``; fail when the peak is not well under the archive."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    results = measure()
    write_json("exports.json", results)
    print(json.dumps(results, indent=2))
    return 0 if results["peak_over_archive"] < 0.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
