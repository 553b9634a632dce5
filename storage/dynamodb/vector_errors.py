"""What a failed ``SearchVectors`` means to a caller of the vector store.

The troubleshooting guide's transient answers (the index being created or backfilled,
throttling, service errors) become :class:`UnavailableError` with ``retry_after``, so a
turn runs on its last-N window and the memory search route answers 503 with
``Retry-After``; a request the service refused for another reason stays a
``ValidationError``.
"""

from __future__ import annotations

from storage.dynamodb.schema import MESSAGE_VECTORS
from storage.errors import StorageError, UnavailableError, ValidationError

INDEX_NOT_READY_RETRY = 60.0
"""Seconds a caller is told to wait while the vector index is created or backfilled."""
BUSY_RETRY = 1.0
"""Seconds a caller is told to wait after throttling or a service error (retried already)."""
# What SearchVectors answers while the index is not ready (the troubleshooting guide):
# ``Cannot search backfilling vector index: <name>`` while it backfills, ``The table does
# not have the specified index: <name>`` while it is CREATING or just after (the search
# endpoint lags DescribeTable).
_NOT_READY = ("cannot search backfilling vector index", "does not have the specified index")


def search_unavailable(exc: ValidationError | UnavailableError) -> StorageError:
    """What a failed ``SearchVectors`` means to a caller: a transient failure is an
    :class:`UnavailableError` with ``retry_after``; a request the service refused for
    another reason stays a ``ValidationError``.

    Transient: the index still being created or backfilled (a ``ValidationException``
    the guide says to retry), the table or index not found (``ResourceNotFoundException``:
    being created, or deployed without ``vectorDimensions``), throttling and service
    errors that outlasted botocore's retries.
    """
    if isinstance(exc, ValidationError):
        if not any(words in str(exc).lower() for words in _NOT_READY):
            return exc
        return UnavailableError(
            f"the vector index {MESSAGE_VECTORS!r} is not ready to search yet (being created "
            f"or backfilled): {exc}", retry_after=INDEX_NOT_READY_RETRY,
        )
    if exc.retry_after is not None:
        return exc
    missing = "table missing" in str(exc) or "ResourceNotFound" in str(exc)
    return UnavailableError(str(exc), retry_after=INDEX_NOT_READY_RETRY if missing else BUSY_RETRY)


__all__ = ["BUSY_RETRY", "INDEX_NOT_READY_RETRY", "search_unavailable"]
