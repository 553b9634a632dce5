"""Powertools Logger, Tracer and Metrics shared by every handler (one place, one service).

The service name comes from ``POWERTOOLS_SERVICE_NAME`` (set per function by the
CDK stack); the metrics namespace from ``POWERTOOLS_METRICS_NAMESPACE``. The dev
server turns metrics off unless asked, so a laptop prints no EMF blobs. Off Lambda
(or with ``POWERTOOLS_TRACE_DISABLED=true``) the tracer is a no-op that never
imports the X-Ray SDK.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "stowage")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Stowage")

# An invocation that adds no metric is normal (a health check); do not warn about it.
warnings.filterwarnings("ignore", message="No application metrics to publish")



class _NoTracer:
    """Tracer's decorators as no-ops, so a process off Lambda never imports the X-Ray SDK."""

    def capture_lambda_handler(self, fn: Callable[..., Any] | None = None,
                               **_: Any) -> Any:
        return fn if fn is not None else (lambda f: f)

    def capture_method(self, fn: Callable[..., Any] | None = None, **_: Any) -> Any:
        return fn if fn is not None else (lambda f: f)


def _tracing_wanted() -> bool:
    # The X-Ray SDK costs ~130 ms of cold import; only a Lambda with tracing pays it.
    in_lambda = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")
    return in_lambda and not disabled


logger = Logger(service=SERVICE)
tracer: Tracer = Tracer(service=SERVICE) if _tracing_wanted() else cast(Tracer, _NoTracer())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: float = 1) -> None:
    """Add to a count metric of this invocation (flushed by ``log_metrics``)."""
    if is_metrics_disabled():
        # A disabled flush never clears: the set would fill up and print at 100 values.
        return
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def emit_now(name: str, value: float = 1) -> None:
    """Print one count metric at once (EMF), for the long-running stream process.

    The api and worker flush per invocation with ``log_metrics``; the stream app
    under uvicorn has no invocation boundary, so it writes each metric as it happens.
    """
    if is_metrics_disabled():
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE,
                       default_dimensions={"service": SERVICE}):
        pass


__all__ = ["MetricUnit", "count", "emit_now", "logger", "metrics", "tracer"]
