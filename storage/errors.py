"""One error tree for every backend.

Backends translate driver errors where they catch them and chain the original
(``raise ConflictError(...) from exc``), so no ``botocore`` or ``psycopg`` error ever
reaches a caller of the storage protocols.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error raised by a store."""


class NotFoundError(StorageError):
    """The item an update or a save refers to does not exist."""


class ConflictError(StorageError):
    """A write lost a race or broke a condition (an owner, a version)."""


class MessageIdConflictError(ConflictError):
    """A message id given for one thread already belongs to another thread.

    Raised by ``save_messages(..., allow_move=False)``, which callers acting for a
    client use: a request may only create or change messages in the thread it names.
    The message names the id, never the thread or resource it belongs to.
    """

    def __init__(self, message_id: str) -> None:
        super().__init__(f"message id {message_id!r} is already used by another thread")
        self.message_id = message_id


class ValidationError(StorageError, ValueError):
    """The caller passed something no backend can store: a bad id, key or page argument."""


class ArchiveError(ValidationError):
    """An archive an import refuses: a bad manifest, checksum, record or reference.

    Raised before anything is written. ``member`` names the archive member at fault
    (``None`` for the archive as a whole) and ``line`` the record's line in it (1-based;
    ``None`` for the member as a whole).
    """

    def __init__(self, message: str, *, member: str | None = None, line: int | None = None) -> None:
        where = member if member is not None else "archive"
        if line is not None:
            where += f" line {line}"
        super().__init__(f"{where}: {message}")
        self.member = member
        self.line = line


class ItemTooLargeError(StorageError):
    """An item is over the backend's size limit and there is no blob store to offload to."""


class UnavailableError(StorageError):
    """The backend cannot be reached, or keeps throttling after the retries ran out.

    Attributes:
        retry_after: seconds after which a retry is likely to succeed, when the backend
            knows (an Aurora cluster resuming from auto-pause); ``None`` otherwise.
    """

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


__all__ = [
    "ArchiveError",
    "ConflictError",
    "ItemTooLargeError",
    "MessageIdConflictError",
    "NotFoundError",
    "StorageError",
    "UnavailableError",
    "ValidationError",
]
