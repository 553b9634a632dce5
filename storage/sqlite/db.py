"""One SQLite file shared safely by threads and processes.

Every thread (and every forked process) gets its own connection, opened in
autocommit mode so transactions are explicit: writes run under ``BEGIN IMMEDIATE``,
which takes the write lock up front, so two writers queue on ``busy_timeout``
instead of failing half way with ``SQLITE_BUSY`` on a lock upgrade; reads run in a
deferred transaction, so a count and the page it describes see one snapshot. WAL
lets readers proceed while a writer commits.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.errors import ConflictError, StorageError, UnavailableError
from storage.sqlite._codec import json_text, metadata_matches

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0


def translate(exc: sqlite3.Error, action: str) -> StorageError:
    """Map a driver error onto the storage error tree (the caller chains it)."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"sqlite: {action} broke a constraint: {exc}")
    if isinstance(exc, sqlite3.OperationalError) and (
        "locked" in text or "busy" in text or "unable to open" in text or "disk i/o" in text
    ):
        return UnavailableError(f"sqlite: {action} failed: {exc}")
    return StorageError(f"sqlite: {action} failed: {exc}")


class SQLiteDatabase:
    """Connections to one database file, one per thread and process.

    Args:
        path: the database file; its parent folders are created.
        timeout: seconds a writer waits for the write lock (``busy_timeout``).
    """

    def __init__(self, path: str | Path, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()  # guards the connection list
        self._ready_lock = threading.Lock()  # one migration run per process
        self._connections: list[tuple[int, sqlite3.Connection]] = []
        self._ready = False
        self._closed = False

    # --- connections -----------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again after a fork)."""
        if self._closed:
            raise StorageError(f"sqlite: the store for {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        conn = self._open()
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._lock:
            self._connections.append((os.getpid(), conn))
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path),
                timeout=self.timeout,
                isolation_level=None,  # autocommit: we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # only close() touches another thread's connection
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable across application crashes in WAL mode; only an OS crash
            # can lose the last commits, the trade libsql makes too.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.create_function("stowage_json", 1, json_text, deterministic=True)
            conn.create_function(
                "stowage_metadata_matches", 2, metadata_matches, deterministic=True
            )
        except sqlite3.Error as exc:
            raise translate(exc, f"opening {self.path}") from exc
        except OSError as exc:
            raise UnavailableError(f"sqlite: cannot create {self.path.parent}: {exc}") from exc
        return conn

    # --- transactions ----------------------------------------------------------------

    @contextmanager
    def write(self, action: str = "write") -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back."""
        self.ensure_ready()
        with self.unmigrated_write(action) as conn:
            yield conn

    @contextmanager
    def unmigrated_write(self, action: str) -> Iterator[sqlite3.Connection]:
        """:meth:`write` without the migration check: for the migrations themselves."""
        with self._transaction("BEGIN IMMEDIATE", action) as conn:
            yield conn

    @contextmanager
    def read(self, action: str = "read") -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one snapshot."""
        self.ensure_ready()
        with self._transaction("BEGIN", action) as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str, action: str) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        if conn.in_transaction:
            raise StorageError(f"sqlite: nested transaction in {action}")
        try:
            conn.execute(begin)
        except sqlite3.Error as exc:
            raise translate(exc, action) from exc
        try:
            yield conn
        except BaseException as exc:
            self._rollback(conn)
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, action) from exc
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise translate(exc, action) from exc

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.warning("sqlite: rollback failed", exc_info=True)

    # --- lifecycle -------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Apply pending migrations once per process (tables are created on first use)."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            from storage.sqlite.schema import migrate

            migrate(self)
            self._ready = True

    def setup(self) -> None:
        """Create or upgrade the schema now. Idempotent."""
        self.ensure_ready()

    def close(self) -> None:
        """Close every connection this process opened (a fork's parent keeps its own)."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for pid, conn in connections:
            if pid != os.getpid():
                continue
            try:
                conn.close()
            except sqlite3.Error:
                log.warning("sqlite: closing a connection failed", exc_info=True)
