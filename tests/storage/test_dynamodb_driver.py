"""The DynamoDB driver's limits and error translation, against a recording connection.

moto enforces none of DynamoDB's request limits, so these tests stand in a
connection that records each request and answers as DynamoDB would.
"""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.exceptions import CancellationReason, VerboseClientError

from storage.dynamodb.driver import (
    BATCH_WRITE_LIMIT,
    Dynamo,
    TransactionCanceled,
    put,
    transaction_chunks,
)
from storage.errors import (
    ConflictError,
    ItemTooLargeError,
    UnavailableError,
    ValidationError,
)


class Recording:
    """A pynamodb-Connection stand-in: records requests, replays canned answers."""

    def __init__(self, answers: list[Any] | None = None) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.answers = answers or []

    def dispatch(self, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((operation, kwargs))
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer  # type: ignore[no-any-return]
        return {}


def _error(code: str, message: str = "", reasons: list[str | None] | None = None) -> Exception:
    return VerboseClientError(
        {"Error": {"Code": code, "Message": message}},
        "TransactWriteItems",
        cancellation_reasons=[CancellationReason(code=r) if r else None for r in (reasons or [])],
    )


def _put(i: int, size: int = 10) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "v": {"S": "x" * size}}}}


def test_batch_writes_go_25_at_a_time() -> None:
    conn = Recording()
    Dynamo(connection=conn).batch_write("t", [_put(i) for i in range(60)])  # type: ignore[arg-type]
    sizes = [len(kw["RequestItems"]["t"]) for _, kw in conn.requests]
    assert sizes == [25, 25, 10]
    assert BATCH_WRITE_LIMIT == 25


def test_unprocessed_items_are_retried_until_written() -> None:
    leftover = [_put(1), _put(2)]
    conn = Recording([{"UnprocessedItems": {"t": leftover}}, {"UnprocessedItems": {}}])
    Dynamo(connection=conn).batch_write("t", [_put(i) for i in range(5)])  # type: ignore[arg-type]
    assert [len(kw["RequestItems"]["t"]) for _, kw in conn.requests] == [5, 2]
    assert conn.requests[1][1]["RequestItems"]["t"] == leftover


def test_unprocessed_items_that_never_clear_raise_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("storage.dynamodb.driver._backoff", lambda attempt: None)
    stuck = {"UnprocessedItems": {"t": [_put(1)]}}
    conn = Recording([stuck] * 20)
    with pytest.raises(UnavailableError):
        Dynamo(connection=conn).batch_write("t", [_put(1)])  # type: ignore[arg-type]


def test_batch_gets_go_100_keys_at_a_time_strongly_consistent() -> None:
    conn = Recording()
    keys = [{"pk": {"S": f"k{i}"}} for i in range(150)]
    Dynamo(connection=conn).batch_get("t", keys)  # type: ignore[arg-type]
    bodies = [kw["RequestItems"]["t"] for _, kw in conn.requests]
    assert [len(b["Keys"]) for b in bodies] == [100, 50]
    assert all(b["ConsistentRead"] for b in bodies)


def test_a_transaction_holds_at_most_100_actions() -> None:
    conn = Recording()
    actions = [put("t", {"pk": {"S": f"k{i}"}}) for i in range(101)]
    with pytest.raises(ValidationError, match="100"):
        Dynamo(connection=conn).transact(actions)  # type: ignore[arg-type]
    assert conn.requests == []


def test_a_transaction_holds_at_most_4_mb() -> None:
    conn = Recording()
    big = [put("t", {"pk": {"S": f"k{i}"}, "v": {"S": "x" * 350_000}}) for i in range(13)]
    with pytest.raises(ItemTooLargeError, match="4 MB"):
        Dynamo(connection=conn).transact(big)  # type: ignore[arg-type]
    assert conn.requests == []


def test_transaction_chunks_respect_both_limits() -> None:
    small = [put("t", {"pk": {"S": f"k{i}"}}) for i in range(250)]
    assert [len(c) for c in transaction_chunks(small)] == [100, 100, 50]
    big = [put("t", {"pk": {"S": f"k{i}"}, "v": {"S": "x" * 1_000_000}}) for i in range(9)]
    assert [len(c) for c in transaction_chunks(big)] == [4, 4, 1]


def test_cancellation_reasons_are_surfaced() -> None:
    answer = _error(
        "TransactionCanceledException",
        "Transaction cancelled",
        [None, "ConditionalCheckFailed"],
    )
    conn = Recording([answer])
    with pytest.raises(TransactionCanceled) as caught:
        Dynamo(connection=conn).transact([put("t", {"pk": {"S": "a"}})])  # type: ignore[arg-type]
    assert caught.value.reasons == [None, "ConditionalCheckFailed"]
    assert "ConditionalCheckFailed" in str(caught.value)
    assert isinstance(caught.value, ConflictError)
    assert isinstance(caught.value.__cause__, VerboseClientError)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ConditionalCheckFailedException", ConflictError),
        ("ProvisionedThroughputExceededException", UnavailableError),
        ("ThrottlingException", UnavailableError),
        ("ResourceNotFoundException", UnavailableError),
        ("ValidationException", ValidationError),
        ("InternalServerError", UnavailableError),
    ],
)
def test_driver_errors_become_storage_errors(code: str, error: type[Exception]) -> None:
    conn = Recording([_error(code, "boom")])
    with pytest.raises(error) as caught:
        Dynamo(connection=conn).call("PutItem", TableName="t")  # type: ignore[arg-type]
    assert caught.value.__cause__ is not None


def test_item_size_validation_becomes_item_too_large() -> None:
    conn = Recording([_error("ValidationException", "Item size has exceeded the maximum")])
    with pytest.raises(ItemTooLargeError):
        Dynamo(connection=conn).call("PutItem", TableName="t")  # type: ignore[arg-type]


def test_the_real_client_retries_throttling_adaptively() -> None:
    dynamo = Dynamo(region="us-east-1")
    retries = dynamo.client.meta.config.retries
    assert retries["mode"] == "adaptive"
    assert retries["total_max_attempts"] >= 5
