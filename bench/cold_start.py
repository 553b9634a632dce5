"""Cold-start storage requests per function: what a deployed function asks of storage
before its first request is served (target 0), and what the local mode still does.

Each function starts in a fresh interpreter, as a Lambda cold start: its handler
module is imported and the App built (the stream function builds it in uvicorn's
lifespan, the api and worker on the first request), on DynamoDB + S3 under moto with
the tables and bucket already there, as after a deploy. Every botocore call is counted.
Cold import ratios are in the ``handlers`` suite.

Writes ``cold_start.json`` where :mod:`bench.output` says (``bench/out/`` unless saving).

    python -m bench.cold_start
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import output

RESULTS = "cold_start.json"
ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {"api": "handlers.api", "stream": "handlers.stream", "worker": "handlers.worker"}
MODES = {"deployed (STOWAGE_SETUP=deploy)": "deploy", "local (STOWAGE_SETUP=start)": "start"}

PROBE = """
import collections, json, os, sys
from moto import mock_aws
with mock_aws():
    import boto3
    import storage
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="stowage-bench")
    storage.from_env(dict(os.environ)).setup()          # the deploy's setup
    from botocore.client import BaseClient
    calls = collections.Counter()
    real = BaseClient._make_api_call
    def record(self, operation, params):
        calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return real(self, operation, params)
    BaseClient._make_api_call = record
    os.environ["STOWAGE_SETUP"] = sys.argv[2]
    __import__(sys.argv[1])
    from handlers._wiring import get_app
    get_app()
    print(json.dumps(dict(calls)))
"""


def _cold_start(module: str, mode: str) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOWAGE_")}
    env.update({
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true",
        "STOWAGE_STORAGE_URL": "dynamodb://stowage-bench?region=us-east-1",
        "STOWAGE_BLOBS_URL": "s3://stowage-bench/blobs?region=us-east-1",
        "STOWAGE_JOBS": "inline",
    })
    done = subprocess.run([sys.executable, "-c", PROBE, module, mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    counts: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts


def measure() -> dict[str, Any]:
    """Requests per function and mode."""
    out: dict[str, Any] = {}
    for label, mode in MODES.items():
        out[label] = {}
        for name, module in FUNCTIONS.items():
            counts = _cold_start(module, mode)
            out[label][name] = {"requests": sum(counts.values()), "by_operation": counts}
    return out


def main() -> int:
    """Measure, print, write the results; non-zero if a deployed cold start touched storage."""
    results = {"suite": "cold_start", "storage": "dynamodb + s3 (moto)",
               "functions": measure()}
    output.write_json(RESULTS, results)
    print(json.dumps(results, indent=2))
    deployed = results["functions"]["deployed (STOWAGE_SETUP=deploy)"]
    return 0 if all(f["requests"] == 0 for f in deployed.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
