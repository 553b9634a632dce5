"""Opening DynamoDB (+ S3) stores under moto for tests, with a request log.

Every botocore call is recorded (service, operation); a Scan on DynamoDB raises at
once, because no request path may scan a table.
"""

from __future__ import annotations

import atexit
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import moto

import storage


class ScanForbidden(AssertionError):
    """A request path issued a DynamoDB Scan."""


class RequestLog:
    """Counts botocore requests by ``"<service>.<Operation>"``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self._before)

    def _before(self, model: Any, **_: Any) -> None:
        name = f"{model.service_model.service_name}.{model.name}"
        if name == "dynamodb.Scan":
            raise ScanForbidden("a DynamoDB Scan was issued on a request path")
        self.calls[name] += 1

    def reset(self) -> None:
        self.calls.clear()


_SERVER: dict[str, Any] = {}


def moto_server_endpoint() -> str:
    """A moto server in a child process, started once per test session.

    S3 runs there (not in-process) so a blob's bytes held by the fake never count
    against the client's memory in the streaming tests.
    """
    if "url" in _SERVER:
        return str(_SERVER["url"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(process.terminate)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.terminate()
        raise RuntimeError("the moto server did not start")
    _SERVER.update(url=url, process=process)
    return url


_ATOMIC = threading.RLock()
_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
    "get_item",
    "query",
)


@contextmanager
def atomic_moto_dynamodb() -> Iterator[None]:
    """Make moto's DynamoDB requests atomic, as DynamoDB's item writes are.

    moto evaluates a condition, then writes, with no lock: two threads can both pass
    ``attribute_not_exists`` or both apply an UpdateItem to the same old item, which
    DynamoDB never allows. Serialising moto's backend calls gives the fake the
    atomicity the concurrency tests are about; the store itself takes no lock. The
    request handler is serialised too: moto turns an item into its response after the
    backend call, walking the very dicts a concurrent UpdateItem is changing
    ("dictionary changed size during iteration").
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    patches = []
    for owner, name in [*((DynamoDBBackend, n) for n in _WRITES), (DynamoHandler, "call_action")]:
        original = getattr(owner, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _ATOMIC:
                return __original(self, *args, **kwargs)

        patches.append(mock.patch.object(owner, name, locked))
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield


@contextmanager
def moto_dynamodb(*, with_s3: bool = False, **options: Any) -> Iterator[tuple[Any, RequestLog]]:
    """A set-up DynamoDB store (composited with an S3 blob store when ``with_s3``)."""
    from storage.dynamodb.store import DynamoDBStore

    with moto.mock_aws(), atomic_moto_dynamodb():
        dynamo = DynamoDBStore(f"t{secrets.token_hex(4)}", region="us-east-1", **options)
        log = RequestLog()
        log.attach(dynamo.dynamo.client)
        if with_s3:
            endpoint = moto_server_endpoint()
            s3 = storage.open(
                f"s3://bucket-{secrets.token_hex(4)}/stowage?region=us-east-1&endpoint={endpoint}"
            )
            log.attach(s3.blobs.client)
            store: Any = storage.CompositeStore(dynamo, blobs=s3)
        else:
            store = dynamo
        store.setup()
        log.reset()
        try:
            yield store, log
        finally:
            store.close()
