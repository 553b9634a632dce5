"""The SQLite backend (stdlib ``sqlite3``): the embedded default, in Mastra's schema.

``storage.open("sqlite:///.stowage/stowage.db")`` (relative to the project root) or
``sqlite:////abs/path.db``; ``?timeout=<seconds>`` sets how long a write waits for
the lock; ``?driver=sqlite3|auto|sqlean`` (default ``STOWAGE_SQLITE_DRIVER``, else
``sqlite3``) picks the DB-API module (:func:`storage.sqlite.db.resolve_dbapi`).
"""

from __future__ import annotations

import os
from urllib.parse import SplitResult

from storage.errors import ValidationError
from storage.sqlite.db import DEFAULT_TIMEOUT_S, SQLiteDatabase, resolve_dbapi
from storage.sqlite.memory import SQLiteMemoryStore
from storage.sqlite.observability import SQLiteObservabilityStore
from storage.sqlite.scores import SQLiteScoreStore
from storage.sqlite.store import SQLiteStore
from storage.sqlite.vectors import SQLiteVectorStore
from storage.sqlite.workflows import SQLiteWorkflowStore
from storage.urls import local_path, url_options

OPTIONS = ("timeout", "driver")


def open_url(parsed: SplitResult) -> SQLiteStore:
    """The store a ``sqlite:`` URL names (see :func:`storage.urls.local_path`)."""
    params = url_options(parsed, OPTIONS)
    timeout = DEFAULT_TIMEOUT_S
    if "timeout" in params:
        try:
            timeout = float(params["timeout"])
        except ValueError as exc:
            raise ValidationError(
                f"sqlite timeout must be a number: {params['timeout']!r}"
            ) from exc
        if timeout < 0:
            raise ValidationError("sqlite timeout must not be negative")
    driver = params.get("driver", os.environ.get("STOWAGE_SQLITE_DRIVER") or "sqlite3")
    return SQLiteStore(local_path(parsed), timeout=timeout, dbapi=resolve_dbapi(driver))


__all__ = [
    "SQLiteDatabase",
    "SQLiteMemoryStore",
    "SQLiteObservabilityStore",
    "SQLiteScoreStore",
    "SQLiteStore",
    "SQLiteVectorStore",
    "SQLiteWorkflowStore",
    "open_url",
]
