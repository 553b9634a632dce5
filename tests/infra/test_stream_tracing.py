"""The stream function, run with its template environment, logs no X-Ray warning.

uvicorn behind the web adapter never gets the invocation's trace id, so an active
X-Ray SDK warns "Subsegment ... discarded" on every AWS call and records nothing.
The template turns the SDK off there (Lambda's own segments still trace the call).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infra.constants import STREAM_HANDLER

from .conftest import Synth

ROOT = Path(__file__).resolve().parents[2]
# What the function does at start and per request: import the app (the tracer with
# it), then make AWS calls; logging as Lambda captures it.
PROBE = """
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                    format="%(levelname)s %(name)s %(message)s")
from moto import mock_aws
with mock_aws():
    import boto3
    import handlers.stream  # noqa: F401
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="stowage-probe")
    s3.put_object(Bucket="stowage-probe", Key="k", Body=b"x")
print("served")
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("STOWAGE_", "POWERTOOLS_", "AWS_LAMBDA", "_X_AMZN"))}
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def _stream_environment(synth: Synth) -> dict[str, str]:
    (props,) = [
        r["Properties"] for r in synth.resources("AWS::Lambda::Function").values()
        if r["Properties"]["Handler"] == STREAM_HANDLER
    ]
    env = {k: v for k, v in props["Environment"]["Variables"].items() if isinstance(v, str)}
    # What Lambda adds to every function's environment.
    env.update({"AWS_LAMBDA_FUNCTION_NAME": "Stowage-dev-StreamFunction",
                "LAMBDA_TASK_ROOT": str(ROOT), "AWS_REGION": "us-east-1"})
    return env


def test_stream_function_logs_no_xray_warning(dev: Synth) -> None:
    env = _stream_environment(dev)

    done = _run(env)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "served" in done.stdout
    assert "aws_xray_sdk" not in done.stderr
    assert "WARNING" not in done.stderr


def test_the_probe_sees_the_warning_when_tracing_is_on(dev: Synth) -> None:
    # The same run with the SDK active: the warning the template avoids.
    env = _stream_environment(dev)
    env.pop("POWERTOOLS_TRACE_DISABLED")

    done = _run(env)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "discarded due to Lambda worker still initializing" in done.stderr
