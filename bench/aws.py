"""The fake AWS the DynamoDB and S3 benches run against, set up in one place.

:func:`credentials` gives boto3 fake credentials and a region (moto answers, nothing
leaves the process); :func:`environment` adds moto itself, patched with the test
support's cheaper transactions (``tests/support/moto_dynamodb.py``: the figures are the
same, moto's wall times shorter), and on request the SearchVectors fake.
:class:`BotocoreMeter` counts the requests a store makes; :func:`metered_store` is a
DynamoDB + S3 store with one attached.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

CREDENTIALS = (
    ("AWS_ACCESS_KEY_ID", "bench"),
    ("AWS_SECRET_ACCESS_KEY", "bench"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
)


def credentials() -> None:
    """Fake AWS credentials and region (values already set are kept)."""
    for name, value in CREDENTIALS:
        os.environ.setdefault(name, value)


def environment(*, search_vectors: bool = False) -> None:
    """Fake credentials, moto patched in, and (``search_vectors``) the SearchVectors fake."""
    credentials()
    import moto  # noqa: F401  (patches botocore before any client exists)

    if search_vectors:
        import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (SearchVectors for moto)
    from tests.support import moto_dynamodb

    moto_dynamodb.install()


class BotocoreMeter:
    """Counts requests (DynamoDB ops bare, S3 ops as ``s3:<Op>``) and items read."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self._before)
        client.meta.events.register("after-call.*.*", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        self.calls[model.name if service == "dynamodb" else f"{service}:{model.name}"] += 1

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.service_model.service_name != "dynamodb":
            return
        if model.name == "Query":
            self.items += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif model.name == "GetItem":
            self.items += 1 if parsed.get("Item") else 0
        elif model.name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())

    def reset(self) -> None:
        self.calls.clear()
        self.items = 0

    def requests(self) -> dict[str, int]:
        return dict(self.calls)

    def items_read(self) -> int:
        return self.items


def metered_store(table: str, bucket: str, **options: Any) -> tuple[Any, Any, BotocoreMeter]:
    """A DynamoDB + S3 composite store, set up, and a meter on both clients (in moto).

    Args:
        table: the DynamoDB table's name.
        bucket: the S3 bucket holding offloaded content (under ``blobs/``).
        options: keyword arguments of :class:`~storage.dynamodb.store.DynamoDBStore`.

    Returns:
        (the composite store, its DynamoDB store, the meter).
    """
    import storage
    from storage.dynamodb.store import DynamoDBStore

    dynamo = DynamoDBStore(table, region="us-east-1", **options)
    s3 = storage.open(f"s3://{bucket}/blobs?region=us-east-1")
    store = storage.CompositeStore(dynamo, blobs=s3)
    store.setup()
    meter = BotocoreMeter()
    meter.attach(dynamo.dynamo.client)
    meter.attach(s3.blobs.client)
    return store, dynamo, meter
