"""R1-R3: what retention costs.

* R1: a follow-up agent turn on DynamoDB + S3 (moto), through the api handler, with
  retention off and on (``threads=90d,runs=30d,spans=14d,scores=180d``): requests by
  operation. The thread's expiry rides in the turn's one ``TransactWriteItems`` and the
  other records' in the writes they make anyway, so the two must be equal.
* R2: the TTL cascade of one expired thread of 50 messages (``handlers.expiry``'s
  work): requests by operation.
* R3: ``prune()`` on the embedded default (SQLite + a blob folder): 400 idle threads of
  10 messages and an attachment each, among 100 young ones, in batches of 200; wall
  time and batches.

Results: ``retention.json`` in the bench output folder (``make bench-save``:
``bench/results/``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import timedelta
from typing import Any

from bench import aws
from bench.output import write_json

RETENTION_TEXT = "threads=90d,runs=30d,spans=14d,scores=180d"
THREAD = {"thread": "bench-retention", "resource": "bench-user"}


def _turn_requests(retention: str) -> tuple[dict[str, int], bool]:
    """Requests of one follow-up turn (api handler, ``local/echo``) on DynamoDB + S3,
    and whether the thread item then carries an expiry."""
    import moto

    with moto.mock_aws():
        import storage
        from agents import Agent, App, InlineJobRunner, Memory
        from bench.aws import BotocoreMeter
        from handlers import _wiring
        from handlers.api import handler
        from handlers.events import LocalContext, rest_event
        from storage.dynamodb.store import DynamoDBStore
        from storage.lifecycle import Retention

        dynamo = DynamoDBStore("bench", region="us-east-1")
        s3 = storage.open("s3://stowage-bench/blobs?region=us-east-1")
        store = storage.CompositeStore(dynamo, blobs=s3, retention=Retention.parse(retention))
        store.setup()
        meter = BotocoreMeter()
        meter.attach(dynamo.dynamo.client)
        meter.attach(s3.blobs.client)
        agent = Agent(id="assistant", model="local/echo", memory=Memory())
        _wiring.use_app(App(agents=[agent], storage=store, jobs=InlineJobRunner()))

        def turn(text: str) -> None:
            event = rest_event("POST", "/api/agents/assistant/generate",
                               body=json.dumps({"messages": text, "memory": THREAD}),
                               headers={"Content-Type": "application/json"})
            assert handler(event, LocalContext())["statusCode"] == 200

        try:
            turn("the first turn creates the thread")
            meter.reset()
            turn("a follow-up")
            requests = dict(sorted(meter.requests().items()))
            item = dynamo.dynamo.client.get_item(
                TableName=dynamo.memory.table,
                Key={"pk": {"S": f"THREAD#{THREAD['thread']}"}, "sk": {"S": "THREAD"}},
            )["Item"]
            return requests, "expires_at" in item
        finally:
            _wiring.use_app(None)


def _cascade_requests() -> dict[str, int]:
    """Requests the TTL cascade of one 50-message thread makes."""
    import moto

    with moto.mock_aws():
        import storage
        from bench.aws import BotocoreMeter
        from storage.dynamodb.store import DynamoDBStore
        from storage.records import Message, Thread
        from storage.timeutil import utcnow

        dynamo = DynamoDBStore("bench", region="us-east-1")
        s3 = storage.open("s3://stowage-bench/blobs?region=us-east-1")
        store = storage.CompositeStore(dynamo, blobs=s3)
        store.setup()
        store.memory.save_thread(Thread(id="doomed", resource_id="bench-user"))
        now = utcnow()
        store.memory.save_messages([
            Message(id=f"m{i}", thread_id="doomed", role="user",
                    content={"format": 2, "parts": [{"type": "text", "text": "x" * 200}]},
                    created_at=now + timedelta(milliseconds=i))
            for i in range(50)
        ])
        client = dynamo.dynamo.client
        key = {"pk": {"S": "THREAD#doomed"}, "sk": {"S": "THREAD"}}
        image = client.get_item(TableName=dynamo.memory.table, Key=key)["Item"]
        client.delete_item(TableName=dynamo.memory.table, Key=key)  # what TTL does
        meter = BotocoreMeter()
        meter.attach(client)
        meter.attach(s3.blobs.client)
        counts = dynamo.memory.expire_thread(image)
        assert counts == {"threads": 1, "messages": 50}, counts
        return dict(sorted(meter.requests().items()))


def _prune_sqlite() -> dict[str, Any]:
    import storage
    from storage.keys import attachment_key
    from storage.lifecycle import Retention
    from storage.records import Message, Thread
    from storage.timeutil import utcnow

    with tempfile.TemporaryDirectory() as folder:
        store = storage.CompositeStore(
            storage.open(f"sqlite:///{folder}/bench.db"),
            blobs=storage.open(f"file:///{folder}/blobs"),
        )
        store.setup()
        now = utcnow()
        for i in range(500):
            old = i < 400
            stamp = now - timedelta(days=120 if old else 1)
            thread = Thread(id=f"t{i}", resource_id=f"u{i % 20}", created_at=stamp,
                            updated_at=stamp)
            store.memory.save_thread(thread)
            store.memory.save_messages([
                Message(id=f"t{i}-m{j}", thread_id=thread.id, role="user",
                        content={"format": 2, "parts": [{"type": "text", "text": "x" * 200}]},
                        created_at=stamp + timedelta(milliseconds=j))
                for j in range(10)
            ])
            store.memory.save_thread(thread)  # back to its old updated_at
            store.blobs.put(attachment_key(thread.resource_id, thread.id, "ab" * 32), b"x")
        started = time.perf_counter()
        receipt = store.prune(retention=Retention(threads=timedelta(days=90)), batch_size=200)
        wall = time.perf_counter() - started
        store.close()
    return {
        "threads_deleted": receipt.counts["threads"],
        "messages_deleted": receipt.counts["messages"],
        "batch_size": 200,
        "wall_ms": round(wall * 1000, 1),
        "checks": {"every idle thread deleted": receipt.counts["threads"] == 400},
    }


def run() -> dict[str, Any]:
    """R1-R3; returns the results."""
    aws.credentials()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    off, expiry_off = _turn_requests("")
    on, expiry_on = _turn_requests(RETENTION_TEXT)
    cascade = _cascade_requests()
    prune = _prune_sqlite()
    return {
        "R1 follow-up turn, dynamodb+s3 (moto)": {
            "retention off": off,
            "retention on": on,
            "total off": sum(off.values()),
            "total on": sum(on.values()),
            "checks": {
                "same requests with retention": off == on,
                "the turn stamped the thread's expiry": expiry_on and not expiry_off,
            },
        },
        "R2 TTL cascade of a 50-message thread": {
            "requests": cascade,
            "total": sum(cascade.values()),
        },
        "R3 prune on sqlite+files": prune,
    }


def main() -> int:
    """Run, print, write; non-zero when a check fails."""
    results = run()
    print(json.dumps(results, indent=2))
    write_json("retention.json", results)
    checks = [
        ok for phase in results.values() for ok in phase.get("checks", {}).values()
    ]
    return 0 if all(checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
