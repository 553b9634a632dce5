"""L1-L2: what erasing and moving a resource cost.

* L1: ``erase_resource`` of a resource with 10 threads of 20 messages and an
  attachment each, working memory and 10 scores, on DynamoDB + S3 (moto): requests by
  operation, and the receipt; then a repeat erase (nothing left: its requests and an
  all-zero receipt).
* L2: ``export_resource`` of the same resource from the embedded default (SQLite + a
  blob folder) and ``import_archive`` of it into DynamoDB + S3 (moto): the archive's
  size, the import's requests by operation, and a rerun of the import (idempotent:
  the same records, no new ones).

Results: ``lifecycle.json`` in the bench output folder (``make bench-save``:
``bench/results/``).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import aws
from bench.output import write_json

THREADS = 10
MESSAGES = 20
RESOURCE = "bench-user"


def _fill(store: Any) -> None:
    """The resource: threads of messages with an attachment each, working memory, scores."""
    from storage.keys import attachment_key
    from storage.records import Message, Score, Thread
    from storage.timeutil import utcnow

    now = utcnow()
    for t in range(THREADS):
        thread = Thread(id=f"t{t}", resource_id=RESOURCE)
        store.memory.save_thread(thread)
        data = f"file {t}".encode() * 100
        uri = store.blobs.put(attachment_key(RESOURCE, thread.id, hashlib.sha256(data).hexdigest()),
                              data, content_type="text/plain")
        parts: list[dict[str, Any]] = [{"type": "text", "text": "x" * 200}]
        store.memory.save_messages([
            Message(id=f"t{t}-m{m}", thread_id=thread.id, role="user", resource_id=RESOURCE,
                    content={"format": 2, "parts": [
                        *parts, *([{"type": "file", "data": uri, "mimeType": "text/plain"}]
                                  if m == 0 else [])]},
                    created_at=now + timedelta(milliseconds=m))
            for m in range(MESSAGES)
        ])
        store.scores.save_score(Score(id=f"s{t}", scorer_id="bench", run_id=f"r{t}",
                                      score=1.0, resource_id=RESOURCE, thread_id=thread.id))
    store.memory.update_resource(RESOURCE, working_memory="# Bench user\n- likes tea")


def _aws_store() -> tuple[Any, Any]:
    store, _, meter = aws.metered_store("bench", "stowage-bench")
    return store, meter


def _erase() -> dict[str, Any]:
    import moto

    with moto.mock_aws():
        store, meter = _aws_store()
        _fill(store)
        meter.reset()
        receipt = store.erase_resource(RESOURCE)
        first = dict(sorted(meter.requests().items()))
        meter.reset()
        again = store.erase_resource(RESOURCE)
        repeat = dict(sorted(meter.requests().items()))
    return {
        "receipt": dict(receipt.counts),
        "requests": first,
        "total": sum(first.values()),
        "repeat requests": repeat,
        "checks": {
            "every thread erased": receipt.counts["threads"] == THREADS,
            "every message erased": receipt.counts["messages"] == THREADS * MESSAGES,
            "a repeat erases nothing": again.empty,
        },
    }


def _move() -> dict[str, Any]:
    import moto

    import storage
    from storage.lifecycle import export_resource, import_archive

    with tempfile.TemporaryDirectory() as folder:
        source = storage.CompositeStore(storage.open(f"sqlite:///{folder}/bench.db"),
                                        blobs=storage.open(f"file:///{folder}/blobs"))
        source.setup()
        _fill(source)
        archive = Path(folder) / "bench-user.zip"
        manifest = export_resource(source, RESOURCE, archive)
        source.close()
        with moto.mock_aws():
            target, meter = _aws_store()
            meter.reset()
            first = import_archive(target, archive)
            requests = dict(sorted(meter.requests().items()))
            again = import_archive(target, archive)
            listed = target.memory.list_threads(resource_id=RESOURCE, per_page=None)
            messages = sum(target.memory.list_messages(t.id, per_page=None).total
                           for t in listed.items)
        return {
            "archive bytes": archive.stat().st_size,
            "records": dict(manifest.counts),
            "import requests": requests,
            "import total": sum(requests.values()),
            "checks": {
                "threads imported": listed.total == THREADS,
                "messages imported once": messages == THREADS * MESSAGES,
                "a rerun imports the same": dict(first.counts) == dict(again.counts),
            },
        }


def run() -> dict[str, Any]:
    """L1-L2; returns the results."""
    aws.credentials()
    return {
        f"L1 erase of {THREADS} threads x {MESSAGES} messages, dynamodb+s3 (moto)": _erase(),
        "L2 export from sqlite+files, import into dynamodb+s3 (moto)": _move(),
    }


def main() -> int:
    """Run, print, write; non-zero when a check fails."""
    results = run()
    print(json.dumps(results, indent=2))
    write_json("lifecycle.json", results)
    checks = [ok for phase in results.values() for ok in phase.get("checks", {}).values()]
    return 0 if all(checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
