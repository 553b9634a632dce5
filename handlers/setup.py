"""The deploy-time storage setup: a CloudFormation custom resource backed by this function.

``cdk deploy`` creates (and on every code change updates) one custom resource whose
provider is this handler, deployed from the same asset as the api, stream and worker
functions and with the same storage variables. On ``Create`` and ``Update`` it runs
``storage.from_env().setup()``: on DynamoDB + S3 it checks that the tables and the
bucket CDK created are there; on PostgreSQL it applies the pending migrations. The
request-path functions depend on it and run with ``STOWAGE_SETUP=deploy``, so none of
them makes a storage request at its cold start, and none ever runs schema work.

``Delete`` does nothing: stateful resources have their own removal policy, and a
setup never drops data.

The handler always answers CloudFormation (a PUT of the JSON result to the request's
pre-signed ``ResponseURL``), ``FAILED`` with the reason when the setup raised, so a
broken setup fails the deploy at once instead of leaving the stack waiting an hour.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)
logging.getLogger().setLevel(logging.INFO)

# CloudFormation refuses a response body over 4 KB; the reason is the part that grows.
_MAX_REASON = 1000


def run_setup(env: Mapping[str, str]) -> dict[str, str]:
    """Set up the storage ``env`` describes; return what it set up (the resource's data)."""
    import storage

    store = storage.from_env(dict(env))
    try:
        store.setup()
    finally:
        store.close()
    return {"Storage": repr(store)[:200]}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The custom resource's Lambda entry point (``Create``, ``Update``, ``Delete``)."""
    return respond_to(event, context, setup=lambda: run_setup(os.environ))


def respond_to(
    event: Mapping[str, Any],
    context: Any,
    *,
    setup: Callable[[], dict[str, str]],
    send: Callable[[str, bytes], None] | None = None,
) -> dict[str, Any]:
    """Run ``setup`` for Create/Update (nothing for Delete) and answer CloudFormation.

    Returns:
        The response document sent to the ``ResponseURL``.
    """
    request_type = event.get("RequestType")
    physical_id = event.get("PhysicalResourceId") or f"{event.get('LogicalResourceId')}-storage"
    status, reason, data = "SUCCESS", "storage is set up", {}
    try:
        if request_type in ("Create", "Update"):
            data = setup()
            log.info("setup: %s done %s", request_type, data)
        else:
            reason = "nothing to do: data is never removed by the setup"
    except Exception as exc:  # anything: CloudFormation must hear back
        log.exception("setup: %s failed", request_type)
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:_MAX_REASON]
    log_stream = getattr(context, "log_stream_name", None)
    document = {
        "Status": status,
        "Reason": f"{reason} (log stream {log_stream})" if log_stream else reason,
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "Data": data,
    }
    (send or _put)(str(event["ResponseURL"]), json.dumps(document).encode())
    return document


def _put(url: str, body: bytes) -> None:
    # The pre-signed S3 URL wants an empty content type (it is part of the signature).
    request = urllib.request.Request(
        url, data=body, method="PUT",
        headers={"content-type": "", "content-length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        log.info("setup: CloudFormation answered %s", response.status)


__all__ = ["handler", "respond_to", "run_setup"]
