"""The one place that talks to DynamoDB: a pynamodb ``Connection`` plus the limits.

Every request goes through :meth:`Dynamo.call`, which translates driver errors into
the storage error tree. The limits DynamoDB enforces (and moto does not) are
enforced here: 25 writes per BatchWriteItem (unprocessed items retried), 100 keys per
BatchGetItem (unprocessed keys retried), 100 actions and 4 MB per TransactWriteItems.
Throttling is retried by botocore's adaptive retry mode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, VerboseClientError

from storage.dynamodb.codec import AV, Item
from storage.dynamodb.itemsize import item_size, value_size
from storage.errors import (
    ConflictError,
    ItemTooLargeError,
    NotFoundError,
    StorageError,
    UnavailableError,
    ValidationError,
)

log = logging.getLogger(__name__)

BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
TRANSACTION_ACTIONS = 100
TRANSACTION_BYTES = 4 * 1024 * 1024
_RETRY_ROUNDS = 8
_THROTTLES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
    }
)


class TransactionCanceled(ConflictError):
    """A TransactWriteItems was cancelled; ``reasons`` holds one code (or None) per action."""

    def __init__(self, message: str, reasons: list[str | None]) -> None:
        super().__init__(message)
        self.reasons = reasons
        self.items: list[Item | None] = []


class Dynamo:
    """A DynamoDB client for the backend (thread safe: botocore clients are).

    Args:
        region: AWS region; the environment's when ``None``.
        endpoint: an endpoint URL (DynamoDB Local, a moto server), else AWS's.
        connection: an injected pynamodb ``Connection`` (built when ``None``).
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        connection: Connection | None = None,
    ) -> None:
        self.connection = connection or Connection(
            region=region,
            host=endpoint,
            retry_configuration={"mode": "adaptive", "total_max_attempts": 10},
        )

    @property
    def client(self) -> Any:
        """The botocore client (register request counters on ``client.meta.events``)."""
        return self.connection.client

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Send one request; driver errors become storage errors (chained)."""
        try:
            return self.connection.dispatch(operation, kwargs)
        except VerboseClientError as exc:
            raise _translate(operation, exc) from exc
        except ClientError as exc:  # pragma: no cover - pynamodb wraps these
            raise _translate(operation, exc) from exc
        except (BotoCoreError, PynamoDBException) as exc:
            raise UnavailableError(f"DynamoDB {operation} failed: {exc}") from exc

    # --- reads ---------------------------------------------------------------------

    def get(self, table: str, key: Item, **kwargs: Any) -> Item | None:
        """GetItem, strongly consistent."""
        out = self.call("GetItem", TableName=table, Key=key, ConsistentRead=True, **kwargs)
        item: Item | None = out.get("Item")
        return item

    def query(self, table: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Query pages, following ``LastEvaluatedKey`` until the end (or the caller stops)."""
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        while True:
            page = self.call("Query", TableName=table, **kwargs)
            yield page
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def query_items(self, table: str, *, limit: int | None = None, **kwargs: Any) -> list[Item]:
        """Every item a Query returns (all pages), or the first ``limit``."""
        items: list[Item] = []
        if limit is not None:
            if limit <= 0:
                return items
            kwargs["Limit"] = limit
        for page in self.query(table, **kwargs):
            items.extend(page.get("Items", []))
            if limit is not None:
                if len(items) >= limit:
                    return items[:limit]
                kwargs["Limit"] = limit - len(items)
        return items

    def batch_get(self, table: str, keys: Sequence[Item]) -> list[Item]:
        """BatchGetItem in chunks of 100, strongly consistent; unprocessed keys retried."""
        found: list[Item] = []
        unique = list({_key_id(k): k for k in keys}.values())
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            pending: list[Item] = unique[start : start + BATCH_GET_LIMIT]
            for attempt in range(_RETRY_ROUNDS):
                out = self.call(
                    "BatchGetItem",
                    RequestItems={table: {"Keys": pending, "ConsistentRead": True}},
                )
                found.extend(out.get("Responses", {}).get(table, []))
                pending = out.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                if not pending:
                    break
                _backoff(attempt)
            else:
                raise UnavailableError(f"BatchGetItem kept {len(pending)} keys unprocessed")
        return found

    # --- writes --------------------------------------------------------------------

    def batch_write(self, table: str, requests: Sequence[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks of 25; unprocessed items retried with backoff.

        Args:
            requests: ``{"PutRequest": {"Item": ...}}`` or ``{"DeleteRequest": {"Key": ...}}``.
        """
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            pending = list(requests[start : start + BATCH_WRITE_LIMIT])
            for attempt in range(_RETRY_ROUNDS):
                out = self.call("BatchWriteItem", RequestItems={table: pending})
                pending = out.get("UnprocessedItems", {}).get(table, [])
                if not pending:
                    break
                _backoff(attempt)
            else:
                raise UnavailableError(f"BatchWriteItem kept {len(pending)} items unprocessed")

    def transact(self, actions: Sequence[dict[str, Any]]) -> None:
        """One TransactWriteItems, all or nothing.

        Raises:
            ValidationError: more than 100 actions.
            ItemTooLargeError: over 4 MB in all.
            TransactionCanceled: a condition failed (``reasons`` per action).
        """
        if not actions:
            return
        if len(actions) > TRANSACTION_ACTIONS:
            raise ValidationError(
                f"a transaction holds at most {TRANSACTION_ACTIONS} actions, got {len(actions)}"
            )
        size = sum(action_size(a) for a in actions)
        if size > TRANSACTION_BYTES:
            raise ItemTooLargeError(f"a transaction is {size} bytes, over DynamoDB's 4 MB")
        self.call("TransactWriteItems", TransactItems=list(actions))


def transaction_chunks(actions: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split actions into transactions within DynamoDB's 100-action / 4 MB limits."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    current_size = 0
    for action in actions:
        size = action_size(action)
        if current and (
            len(current) >= TRANSACTION_ACTIONS or current_size + size > TRANSACTION_BYTES
        ):
            chunks.append(current)
            current, current_size = [], 0
        current.append(action)
        current_size += size
    if current:
        chunks.append(current)
    return chunks


def action_size(action: Mapping[str, Any]) -> int:
    """The bytes a transaction action carries (items, keys and expression values)."""
    ((_, body),) = action.items()
    size = 0
    if "Item" in body:
        size += item_size(body["Item"])
    if "Key" in body:
        size += item_size(body["Key"])
    for value in body.get("ExpressionAttributeValues", {}).values():
        size += value_size(value)
    return size


def put(table: str, item: Item, condition: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """A transaction Put action."""
    body: dict[str, Any] = {"TableName": table, "Item": item, **kwargs}
    if condition:
        body["ConditionExpression"] = condition
    return {"Put": body}


def delete(table: str, key: Item, condition: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """A transaction Delete action."""
    body: dict[str, Any] = {"TableName": table, "Key": key, **kwargs}
    if condition:
        body["ConditionExpression"] = condition
    return {"Delete": body}


def update(table: str, key: Item, expression: str, **kwargs: Any) -> dict[str, Any]:
    """A transaction Update action."""
    return {"Update": {"TableName": table, "Key": key, "UpdateExpression": expression, **kwargs}}


def _translate(operation: str, exc: ClientError) -> StorageError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message", "")
    if code == "TransactionCanceledException":
        raw = getattr(exc, "cancellation_reasons", None) or []
        reasons = [r.code if r is not None else None for r in raw]
        canceled = TransactionCanceled(
            f"DynamoDB cancelled the transaction: reasons {reasons or message}", reasons
        )
        canceled.items = [r.raw_item if r is not None else None for r in raw]
        return canceled
    if code == "ConditionalCheckFailedException":
        return ConflictError(f"DynamoDB {operation}: condition failed")
    if code in _THROTTLES:
        return UnavailableError(f"DynamoDB {operation} kept throttling: {message}")
    if code == "ResourceNotFoundException":
        return UnavailableError(f"DynamoDB {operation}: table missing (run setup()): {message}")
    if code == "ValidationException" and "size" in message.lower():
        return ItemTooLargeError(f"DynamoDB {operation}: {message}")
    if code == "ValidationException":
        return ValidationError(f"DynamoDB {operation}: {message}")
    if code == "ItemCollectionSizeLimitExceededException":
        return ItemTooLargeError(f"DynamoDB {operation}: {message}")
    return UnavailableError(f"DynamoDB {operation} failed ({code}): {message}")


def not_found(what: str) -> NotFoundError:
    """The error for a missing item a write needed."""
    return NotFoundError(f"{what} does not exist")


def _key_id(key: Mapping[str, AV]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in key.items()))


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 2.0))
