"""Powertools Logger, Tracer and Metrics shared by every handler (one place, one service).

The service name comes from ``POWERTOOLS_SERVICE_NAME`` (set per function by the
CDK stack); the metrics namespace from ``POWERTOOLS_METRICS_NAMESPACE``. Off Lambda
the tracer is disabled by Powertools itself, and the dev server turns metrics off
unless asked, so a laptop prints no EMF blobs.
"""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "stowage")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Stowage")

# An invocation that adds no metric is normal (a health check); do not warn about it.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: float = 1) -> None:
    """Add to a count metric of this invocation (flushed by ``log_metrics``)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


__all__ = ["MetricUnit", "count", "logger", "metrics", "tracer"]
