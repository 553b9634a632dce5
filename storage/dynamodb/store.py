"""``DynamoDBStore``: the four record domains, one table each, sharing one client."""

from __future__ import annotations

import logging
import os
import time
from typing import Any
from urllib.parse import SplitResult, unquote

from storage.dynamodb.driver import Dynamo
from storage.dynamodb.memory import DynamoDBMemoryStore
from storage.dynamodb.observability import DynamoDBObservabilityStore
from storage.dynamodb.offload import DEFAULT_THRESHOLD
from storage.dynamodb.schema import MEMORY, TABLES, TableSchema, table_name, with_vector_index
from storage.dynamodb.scores import DynamoDBScoreStore
from storage.dynamodb.vectors import DynamoDBVectorStore
from storage.dynamodb.workflows import DynamoDBWorkflowStore
from storage.errors import UnavailableError, ValidationError
from storage.lifecycle.erase import EraseMixin
from storage.lifecycle.prune import PruneMixin
from storage.protocols import BlobStore
from storage.urls import url_options

log = logging.getLogger(__name__)

OPTIONS = ("region", "endpoint", "offload_threshold", "span_ttl_days", "vector_dimensions")
_PREFIX_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class DynamoDBStore(PruneMixin, EraseMixin):
    """Memory, workflows, observability and scores on DynamoDB; ``blobs`` is ``None``.

    Give it a blob store (``attach_blobs``, or a :class:`~storage.CompositeStore` with
    ``blobs=``) and oversize attributes overflow there; without one they raise
    :class:`~storage.errors.ItemTooLargeError`.

    Args:
        prefix: table name prefix: tables are ``<prefix>-memory`` and so on.
        region: AWS region (the environment's when ``None``).
        endpoint: a DynamoDB endpoint URL (DynamoDB Local, a moto server).
        offload_threshold: item size (bytes) above which big attributes offload.
        span_ttl_days: spans expire after this many days (``STOWAGE_SPAN_TTL_DAYS``).
        vector_dimensions: ``setup()`` creates the memory table with a vector index of
            this many dimensions (semantic recall); ``None``: the vectors domain reads
            the deployed table's index (``DescribeTable``) on first use.
        dynamo: an injected client (built from region/endpoint when ``None``).
    """

    blobs: BlobStore | None = None

    def __init__(
        self,
        prefix: str,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        offload_threshold: int = DEFAULT_THRESHOLD,
        span_ttl_days: int | None = None,
        vector_dimensions: int | None = None,
        dynamo: Dynamo | None = None,
    ) -> None:
        if not prefix or not set(prefix) <= _PREFIX_CHARS or len(prefix) > 200:
            raise ValidationError(
                f"DynamoDB table prefix {prefix!r} must be 1-200 of a-z A-Z 0-9 _ . -"
            )
        self.prefix = prefix
        self.dynamo = dynamo or Dynamo(region=region, endpoint=endpoint)
        common: dict[str, Any] = {"offload_threshold": offload_threshold}
        self.memory = DynamoDBMemoryStore(
            self.dynamo, table_name(prefix, "memory"), domain="memory", **common
        )
        self.workflows = DynamoDBWorkflowStore(
            self.dynamo, table_name(prefix, "workflows"), domain="workflows", **common
        )
        self.observability = DynamoDBObservabilityStore(
            self.dynamo,
            table_name(prefix, "observability"),
            domain="observability",
            span_ttl_days=span_ttl_days,
            **common,
        )
        self.scores = DynamoDBScoreStore(
            self.dynamo, table_name(prefix, "scores"), domain="scores", **common
        )
        if vector_dimensions is not None:
            try:
                with_vector_index(MEMORY, vector_dimensions)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
        self.vector_dimensions = vector_dimensions
        self.vectors = DynamoDBVectorStore(
            self.dynamo,
            table_name(prefix, "memory"),
            dimensions=vector_dimensions,
            offload_threshold=offload_threshold,
        )
        self.memory.attach_vectors(self.vectors)

    def attach_blobs(self, blobs: BlobStore | None) -> None:
        """Overflow every domain's oversize attributes into ``blobs``."""
        for domain in (self.memory, self.workflows, self.observability, self.scores):
            domain.attach_blobs(blobs)

    def setup(self) -> None:
        """Create the four tables (and their TTL) if missing; idempotent."""
        for domain, schema in TABLES.items():
            if domain == "memory" and self.vector_dimensions is not None:
                schema = with_vector_index(schema, self.vector_dimensions)
            self._ensure_table(table_name(self.prefix, domain), schema)

    def _ensure_table(self, name: str, schema: TableSchema) -> None:
        try:
            self.dynamo.call("DescribeTable", TableName=name)
            return
        except UnavailableError:
            pass  # ResourceNotFoundException: create it
        request: dict[str, Any] = {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": n, "AttributeType": t} for n, t in schema.attributes.items()
            ],
            "KeySchema": _key_schema(schema.partition_key.name, schema.sort_key),
        }
        globals_ = [i for i in schema.indexes if not i.local]
        locals_ = [i for i in schema.indexes if i.local]
        for key, indexes in (
            ("GlobalSecondaryIndexes", globals_),
            ("LocalSecondaryIndexes", locals_),
        ):
            if indexes:
                request[key] = [
                    {
                        "IndexName": i.name,
                        "KeySchema": _key_schema(i.partition_key.name, i.sort_key),
                        "Projection": _projection(i.projection),
                    }
                    for i in indexes
                ]
        if schema.vector_index is not None:
            v = schema.vector_index
            request["VectorIndexes"] = [
                {
                    "IndexName": v.name,
                    "VectorAttribute": {"AttributeName": v.vector_attribute},
                    "Dimensions": v.dimensions,
                    "DistanceFunction": v.distance,
                    "SearchSchema": [
                        {"AttributeName": v.partition_key.name, "SearchSchemaElementType": "HASH"},
                        *(
                            {"AttributeName": f.name, "SearchSchemaElementType": "INLINE_FILTER"}
                            for f in v.filters
                        ),
                    ],
                    "Projection": _projection(v.projection),
                }
            ]
        self.dynamo.call("CreateTable", **request)
        self._wait_active(name)
        if schema.ttl_attribute:
            self.dynamo.call(
                "UpdateTimeToLive",
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.ttl_attribute},
            )
        log.info("created DynamoDB table=%s", name)

    def _wait_active(self, name: str) -> None:
        for _ in range(120):
            table = self.dynamo.call("DescribeTable", TableName=name)["Table"]
            if table.get("TableStatus") == "ACTIVE":
                return
            time.sleep(1)
        raise UnavailableError(f"table {name} did not become ACTIVE")

    def close(self) -> None:
        """Nothing to release (the botocore client closes with the process)."""

    def __repr__(self) -> str:
        return f"DynamoDBStore(prefix={self.prefix!r})"


def _key_schema(partition: str, sort: Any) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition, "KeyType": "HASH"}]
    if sort is not None:
        schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return schema


def _projection(projection: Any) -> dict[str, Any]:
    if projection in ("ALL", "KEYS_ONLY"):
        return {"ProjectionType": projection}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(projection)}


def open_url(parsed: SplitResult) -> DynamoDBStore:
    """``dynamodb://<prefix>?region=&endpoint=&offload_threshold=&span_ttl_days=&vector_dimensions=``."""
    prefix = unquote(parsed.netloc + parsed.path).strip("/")
    params = url_options(parsed, OPTIONS)
    ttl = params.get("span_ttl_days") or os.environ.get("STOWAGE_SPAN_TTL_DAYS")
    threshold = params.get("offload_threshold")
    dims = params.get("vector_dimensions") or os.environ.get("STOWAGE_VECTOR_DIMENSIONS")
    try:
        return DynamoDBStore(
            prefix,
            region=params.get("region") or None,
            endpoint=params.get("endpoint") or None,
            offload_threshold=int(threshold) if threshold else DEFAULT_THRESHOLD,
            span_ttl_days=int(ttl) if ttl else None,
            vector_dimensions=int(dims) if dims else None,
        )
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"bad dynamodb URL option: {exc}") from exc
