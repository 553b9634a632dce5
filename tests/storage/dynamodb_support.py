"""Opening DynamoDB (+ S3) stores under moto for tests, with a request log.

Every botocore call is recorded (service, operation); a Scan on DynamoDB raises at
once, because no request path may scan a table.
"""

from __future__ import annotations

import atexit
import functools
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.session
import moto
from botocore.handlers import BUILTIN_HANDLERS

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


ROOT = Path(__file__).resolve().parents[2]
_SERVER: dict[str, Any] = {}


def moto_server_endpoint() -> str:
    """A moto server in a child process, started once per test session.

    S3 runs there (not in-process) so a blob's bytes held by the fake never count
    against the client's memory in the streaming tests. It runs moto's server through
    :mod:`tests.support.moto_server`, with the same DynamoDB patch as this process;
    its output goes to a temporary file (``_SERVER["log"]``).
    """
    if "url" in _SERVER:
        return str(_SERVER["url"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The child holds its own descriptor of the log; ours closes with the block.
    with tempfile.NamedTemporaryFile(prefix="moto-server-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.moto_server", "-H", "127.0.0.1",
             "-p", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    atexit.register(Path(log.name).unlink, missing_ok=True)  # runs after terminate
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
    _SERVER.update(url=url, process=process, log=Path(log.name))
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


def _shared_botocore_session() -> Any:
    """One botocore session for every test store (pynamodb makes one per connection).

    A session's loader parses the endpoint rules and the service model once, not once
    per store: that halves the CPU of a DynamoDB conformance test. A session takes
    botocore's built-in handlers when it is made (moto's stubber, the SearchVectors
    fake), so a new one is made whenever that list has grown.
    """
    return _session_for(len(BUILTIN_HANDLERS))


@functools.cache
def _session_for(handlers: int) -> Any:
    return botocore.session.get_session()


@contextmanager
def moto_dynamodb(*, with_s3: bool = False, **options: Any) -> Iterator[tuple[Any, RequestLog]]:
    """A set-up DynamoDB store (composited with an S3 blob store when ``with_s3``)."""
    from storage.dynamodb.store import DynamoDBStore

    with moto.mock_aws(), atomic_moto_dynamodb():
        with mock.patch("pynamodb.connection.base.get_session", _shared_botocore_session):
            dynamo = DynamoDBStore(f"t{secrets.token_hex(4)}", region="us-east-1", **options)
            log = RequestLog()
            log.attach(dynamo.dynamo.client)  # built now, in this thread, from that session
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
