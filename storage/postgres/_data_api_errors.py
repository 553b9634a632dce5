"""Data API errors as Stowage's: which codes mean "unavailable", which a size limit.

``ExecuteStatement`` reports a PostgreSQL error as a ``BadRequestException`` whose
message carries the SQLSTATE; the driver error tree is reached through it.
"""

from __future__ import annotations

import re

from storage.errors import ItemTooLargeError, StorageError, UnavailableError
from storage.postgres._errors import error_for_sqlstate

# An auto-paused Aurora Serverless v2 cluster answers this while it wakes.
RESUMING = "DatabaseResumingException"
UNAVAILABLE_CODES = frozenset(
    {
        "DatabaseResumingException",
        "DatabaseUnavailableException",
        "StatementTimeoutException",
        "ServiceUnavailableError",
        "InternalServerErrorException",
        "HttpEndpointNotEnabledException",
        "TransactionNotFoundException",
        "ThrottlingException",
        "InvalidResourceStateException",
        "DatabaseNotFoundException",
    }
)
_SQLSTATE = re.compile(r"SQLState:\s*([0-9A-Z]{5})")


def is_response_too_large(exc: BaseException) -> bool:
    """``exc`` says a result was over the 1 MiB response limit."""
    message = str(exc).lower()
    return "response size" in message or "response exceeded" in message


def is_row_too_large(exc: BaseException) -> bool:
    """``exc`` says one result row was over the 64 KB row limit."""
    return "packet for query is too large" in str(exc).lower()


def translate(exc: Exception, code: str) -> StorageError:
    """The Stowage error for a ``ClientError`` with error code ``code``."""
    message = str(exc)
    if code in UNAVAILABLE_CODES:
        return UnavailableError(f"the Data API is unavailable ({code}): {message}")
    if is_response_too_large(exc):
        return ItemTooLargeError(f"over the Data API's 1 MiB response limit: {message}")
    match = _SQLSTATE.search(message)
    if match and match.group(1) == "3D000":  # invalid_catalog_name
        return StorageError(f"PostgreSQL database does not exist (create it first): {message}")
    if match:
        return error_for_sqlstate(match.group(1))(f"PostgreSQL error {match.group(1)}: {message}")
    if "duplicate key" in message:
        return error_for_sqlstate("23505")(message)
    return StorageError(f"Data API error ({code}): {message}")
