"""DynamoDB + S3 requests per phase of the DESIGN §7 workload, under moto.

Phases W1-X1 are the storage workload; T1 (:mod:`bench.turns`) is an agent turn
through the api handler: a follow-up without a message id, with one (an idempotent
turn: one more read), and its retry (replayed: reads only).

Counts every botocore request by operation (``before-call``) and the items each
DynamoDB response returned (``after-call``: Query ``ScannedCount``, GetItem's item,
BatchGetItem's responses), prints a table and writes ``requests-dynamodb.json``
(see :mod:`bench.output`). Wall times are moto's, not AWS's, with the test support's
TransactWriteItems patch (``tests/support/moto_dynamodb.py``; moto's own copies the
whole table per action).

    python -m bench.requests_dynamodb
"""

from __future__ import annotations

import sys
from typing import Any

from bench import aws, output
from bench.aws import BotocoreMeter  # noqa: F401  (importable from here, as before)

RESULTS = "requests-dynamodb.json"

# The peers' figures on the same workload (Mastra's DynamoDB adapter, issue 3).
PEERS = {
    "W1": "1,520 requests",
    "W2": "reads up to 50 items for the last 20",
    "W3": "reads every thread to list 10",
    "W4": "52 requests to delete a 50-message thread",
    "W5": "fails on a 500 KB attachment",
    "X1": "silently truncates at 1 MB",
}


class DynamoProbe:
    """Reads raw items (outside the meter) for size and leftover checks."""

    def __init__(self, dynamo: Any, table: str) -> None:
        self.client = dynamo.connection.client
        self.table = table

    def message_item_size(self, thread_id: str, message_id: str) -> int | None:
        from storage.dynamodb.itemsize import item_size

        out = self._query(f"THREAD#{thread_id}")
        for item in out:
            if item.get("id", {}).get("S") == message_id:
                return item_size(item)
        return None

    def leftovers(self, thread_id: str, message_ids: list[str]) -> int:
        left = len(self._query(f"THREAD#{thread_id}"))
        for message_id in message_ids:
            left += len(self._query(f"MSGID#{message_id}"))
        return left

    def _query(self, pk: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            out = self.client._make_api_call("Query", kwargs)
            items += out.get("Items", [])
            if "LastEvaluatedKey" not in out:
                return items
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def run() -> dict[str, Any]:
    """The whole workload on DynamoDB + S3 under moto; returns the results."""
    aws.environment()
    import moto

    with moto.mock_aws():
        from bench.turns import turn_phase
        from bench.workload import Workload

        store, dynamo, meter = aws.metered_store("bench", "stowage-bench")
        probe = DynamoProbe(dynamo.dynamo, dynamo.memory.table)
        workload = Workload(store, meter, probe)
        phases = workload.run()
        phases["T1"] = turn_phase(workload)
    return {
        "backend": "dynamodb+s3 (moto)",
        "peers": PEERS,
        "phases": phases,
        "all_checks_pass": all(all(p["checks"].values()) for p in phases.values()),
    }


def table(results: dict[str, Any]) -> str:
    """A plain-text table of the results."""
    lines = [f"{'phase':<8}{'requests':>9}{'items':>7}{'ms':>9}  by operation / checks"]
    for name, phase in results["phases"].items():
        ops = ", ".join(f"{op} {n}" for op, n in phase["requests"].items())
        lines.append(
            f"{name:<8}{phase['total_requests']:>9}{phase['items_read']:>7}"
            f"{phase['wall_ms']:>9.0f}  {ops}"
        )
        for step, data in phase.get("steps", {}).items():
            ops = ", ".join(f"{op} {n}" for op, n in data["requests"].items())
            lines.append(
                f"  {step:<6}{data['total_requests']:>9}{data['items_read']:>7}"
                f"{data['wall_ms']:>9.0f}  {ops}"
            )
        for check, ok in phase["checks"].items():
            lines.append(f"{'':33}{'ok  ' if ok else 'FAIL'} {check}")
    return "\n".join(lines)


def main() -> int:
    """Run, print, write the JSON; non-zero when a check fails."""
    results = run()
    print(table(results))
    output.write_json(RESULTS, results)
    return 0 if results["all_checks_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
