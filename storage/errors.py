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


class ValidationError(StorageError, ValueError):
    """The caller passed something no backend can store: a bad id, key or page argument."""


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
    "ConflictError",
    "ItemTooLargeError",
    "NotFoundError",
    "StorageError",
    "UnavailableError",
    "ValidationError",
]
