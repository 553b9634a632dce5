"""SQLSTATE codes -> the storage error tree, shared by both transports."""

from __future__ import annotations

import re

from storage.errors import (
    ConflictError,
    ItemTooLargeError,
    StorageError,
    UnavailableError,
    ValidationError,
)

# Classes (first two characters) and exact codes, most specific first.
_BY_CODE: dict[str, type[StorageError]] = {
    "23505": ConflictError,  # unique_violation
    "23P01": ConflictError,  # exclusion_violation
    "40001": ConflictError,  # serialization_failure
    "40P01": ConflictError,  # deadlock_detected
    "54000": ItemTooLargeError,  # program_limit_exceeded (row or index entry too big)
    "57014": UnavailableError,  # query_canceled (statement_timeout)
    "57P01": UnavailableError,  # admin_shutdown
    "57P02": UnavailableError,  # crash_shutdown
    "57P03": UnavailableError,  # cannot_connect_now (starting up)
}
_BY_CLASS: dict[str, type[StorageError]] = {
    "08": UnavailableError,  # connection exception
    "53": UnavailableError,  # insufficient resources
    "22": ValidationError,  # data exception (bad input value)
    "23": ValidationError,  # other integrity violations (NOT NULL, CHECK)
}

# A schema object missing: an undefined table, column, type or function, or a feature (an
# extension) the server does not have. The vectors domain reads these as "pgvector or
# its table is not there (yet)".
MISSING_OBJECT_CODES = frozenset({"42P01", "42703", "42704", "42883", "0A000", "58P01"})
_SQLSTATE_IN_MESSAGE = re.compile(r"PostgreSQL error ([0-9A-Z]{5})\b")

# Connection-level failures: the statement may not have reached the server.
DISCONNECT_CODES = frozenset({"57P01", "57P02", "57P03"})


def error_for_sqlstate(sqlstate: str | None) -> type[StorageError]:
    """The storage error class for a SQLSTATE (``StorageError`` when unknown)."""
    if not sqlstate:
        return StorageError
    return _BY_CODE.get(sqlstate) or _BY_CLASS.get(sqlstate[:2]) or StorageError


def is_disconnect(sqlstate: str | None) -> bool:
    """True for SQLSTATEs meaning the connection is gone."""
    return bool(sqlstate) and (sqlstate in DISCONNECT_CODES or str(sqlstate).startswith("08"))


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE a translated error came from (both drivers name it in the message)."""
    match = _SQLSTATE_IN_MESSAGE.search(str(exc))
    return match.group(1) if match else None
