"""The vectors domain (semantic recall's storage): requests, latency and recall per backend.

1. :mod:`bench.vectors.dynamodb`: DynamoDB + S3 under moto, with the SearchVectors fake:
   the requests of a turn's vectors, a search and its windows, a thread's deletion,
   and the bytes vectors add to a message item; checked against the DESIGN's budgets.
2. :mod:`bench.vectors.backends`: the vector conformance set on every vector backend
   reachable here: search latency (p50, p95) and recall@k against exact search.
3. :mod:`bench.vectors.big_resource`: one resource of 10,000 messages with 384-dimension
   vectors on memory, SQLite and pgvector: search latency and recall@10.

Latencies are this machine's, in process; DynamoDB's are moto's and the fake's (an
exact scan in Python), reported for completeness, not as AWS figures.

    python -m bench vectors       # writes vectors.json (bench/out/, or bench/results/ with --save)
"""

from __future__ import annotations

import os
from typing import Any

from bench import output
from bench.vectors.backends import conformance_set, table_backends
from bench.vectors.big_resource import scale, table_scale
from bench.vectors.common import environment
from bench.vectors.dynamodb import dynamodb_requests, table_dynamodb

RESULTS = "vectors.json"

__all__ = [
    "RESULTS",
    "conformance_set",
    "dynamodb_requests",
    "main",
    "run",
    "scale",
    "table_backends",
    "table_dynamodb",
    "table_scale",
]


def run() -> dict[str, Any]:
    """Every part; the results as one dict."""
    environment()
    results = {"dynamodb": dynamodb_requests()}
    print(table_dynamodb(results["dynamodb"]), flush=True)
    results["conformance_set"] = conformance_set()
    print(table_backends(results["conformance_set"]), flush=True)
    results["scale"] = scale()
    print(table_scale(results["scale"]), flush=True)
    return results


def main() -> int:
    """Run, print, write the JSON; non-zero when a DynamoDB budget check fails."""
    target = str(output.folder())
    results = run()
    # The test support modules this bench borrows (tests/conftest.py) clear STOWAGE_*.
    os.environ[output.ENV] = target
    output.write_json(RESULTS, results)
    return 0 if all(results["dynamodb"]["checks"].values()) else 1
