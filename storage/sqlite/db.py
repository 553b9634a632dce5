"""One SQLite file shared safely by threads and processes.

Each transaction checks a connection out of a small pool, so a connection is only
ever used by one thread at a time, threads that come and go (a server's workers)
leak nothing, and a forked process never touches its parent's connections.
Connections are opened in autocommit mode so transactions are explicit: writes
run under ``BEGIN IMMEDIATE``, which takes the write lock up front, so two writers
queue on ``busy_timeout`` instead of failing half way with ``SQLITE_BUSY`` on a lock
upgrade; reads run in a deferred transaction, so a count and the page it describes
see one snapshot. WAL lets readers proceed while a writer commits.

Each connection loads sqlite-vec (vector distances in C) when its driver can load
extensions. Python's ``sqlite3`` is the driver unless told otherwise; where it cannot
load extensions (pyenv and macOS system builds) the vector store computes the same
distance in Python (16x slower on 10,000 vectors), unless the driver is ``auto`` or
``sqlean`` (:func:`resolve_dbapi`): sqlean.py's drop-in ``sqlite3`` over its own SQLite,
which can. That is opt-in, because two SQLite libraries in one process must never
open the same file (their POSIX locks interfere: SQLite's "how to corrupt" §2.2.1):
choose it for a process in which only the store opens the file (``make dev`` does).
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from storage.errors import ConflictError, StorageError, UnavailableError, ValidationError
from storage.sqlite._codec import json_text, metadata_matches
from storage.sqlite._vec import PYTHON_DISTANCE, cosine_distance

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0


def translate(exc: Exception, action: str, dbapi: Any = sqlite3) -> StorageError:
    """Map a driver error onto the storage error tree (the caller chains it)."""
    text = str(exc).lower()
    if isinstance(exc, dbapi.IntegrityError):
        return ConflictError(f"sqlite: {action} broke a constraint: {exc}")
    if isinstance(exc, dbapi.OperationalError) and (
        "locked" in text or "busy" in text or "unable to open" in text or "disk i/o" in text
    ):
        return UnavailableError(f"sqlite: {action} failed: {exc}")
    return StorageError(f"sqlite: {action} failed: {exc}")


class SQLiteDatabase:
    """A pool of connections to one database file, safe across threads and processes.

    Args:
        path: the database file; its parent folders are created.
        timeout: seconds a writer waits for the write lock (``busy_timeout``).
        max_idle: connections kept open between transactions.
        dbapi: the DB-API module (``sqlite3`` when ``None``; see :func:`resolve_dbapi`).
        load_vec: load sqlite-vec when the driver allows (``False``: never).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_idle: int = 8,
        dbapi: ModuleType | None = None,
        load_vec: bool = True,
    ) -> None:
        self.path = Path(path)
        self.dbapi = dbapi if dbapi is not None else sqlite3
        self.has_sqlite_vec = load_vec and _can_load_extensions(self.dbapi)
        self.timeout = timeout
        self.max_idle = max_idle
        self._lock = threading.Lock()  # guards the idle list
        self._ready_lock = threading.Lock()  # one migration run per process
        self._idle: list[Any] = []
        self._pid = os.getpid()
        self._ready = False
        self._closed = False

    # --- connections -----------------------------------------------------------------

    def _checkout(self) -> Any:
        with self._lock:
            if self._closed:
                raise StorageError(f"sqlite: the store for {self.path} is closed")
            if self._pid != os.getpid():
                # A forked child: the parent's connections are not ours to use or close.
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _checkin(self, conn: Any) -> None:
        with self._lock:
            keep = (
                not self._closed
                and self._pid == os.getpid()
                and len(self._idle) < self.max_idle
                and not conn.in_transaction
            )
            if keep:
                self._idle.append(conn)
                return
        conn.close()

    def _open(self) -> Any:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self.dbapi.connect(
                str(self.path),
                timeout=self.timeout,
                isolation_level=None,  # autocommit: we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # pooled: used by one thread at a time, not always one
            )
        except self.dbapi.Error as exc:
            raise translate(exc, f"opening {self.path}", self.dbapi) from exc
        except OSError as exc:
            raise UnavailableError(f"sqlite: cannot create {self.path.parent}: {exc}") from exc
        try:
            self._configure(conn)
        except self.dbapi.Error as exc:
            conn.close()  # not left for the garbage collector to find
            raise translate(exc, f"opening {self.path}", self.dbapi) from exc
        return conn

    def _configure(self, conn: Any) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        # WAL persists in the file: only the first connection has to switch it on.
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across application crashes in WAL mode; only an OS crash
        # can lose the last commits, the trade libsql makes too.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.create_function("stowage_json", 1, json_text, deterministic=True)
        conn.create_function("stowage_metadata_matches", 2, metadata_matches, deterministic=True)
        if self.has_sqlite_vec:
            self._load_sqlite_vec(conn)
        else:
            conn.create_function(PYTHON_DISTANCE, 2, cosine_distance, deterministic=True)

    def _load_sqlite_vec(self, conn: Any) -> None:
        import sqlite_vec

        conn.enable_load_extension(True)
        try:
            conn.load_extension(sqlite_vec.loadable_path())
        finally:
            conn.enable_load_extension(False)  # no SQL may load a library after this

    # --- transactions ----------------------------------------------------------------

    @contextmanager
    def write(self, action: str = "write") -> Iterator[Any]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back."""
        self.ensure_ready()
        with self.unmigrated_write(action) as conn:
            yield conn

    @contextmanager
    def unmigrated_write(self, action: str) -> Iterator[Any]:
        """:meth:`write` without the migration check: for the migrations themselves."""
        with self._transaction("BEGIN IMMEDIATE", action) as conn:
            yield conn

    @contextmanager
    def read(self, action: str = "read") -> Iterator[Any]:
        """A read transaction: every query inside sees one snapshot."""
        self.ensure_ready()
        with self._transaction("BEGIN", action) as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str, action: str) -> Iterator[Any]:
        conn = self._checkout()
        error = self.dbapi.Error
        try:
            try:
                conn.execute(begin)
            except error as exc:
                raise translate(exc, action, self.dbapi) from exc
            try:
                yield conn
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, error):
                    raise translate(exc, action, self.dbapi) from exc
                raise
            try:
                conn.execute("COMMIT")
            except error as exc:
                self._rollback(conn)
                raise translate(exc, action, self.dbapi) from exc
        finally:
            self._checkin(conn)

    def _rollback(self, conn: Any) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except self.dbapi.Error:
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
        """Close the idle connections; those in use close when their transaction ends."""
        with self._lock:
            self._closed = True
            connections = self._idle if self._pid == os.getpid() else []
            self._idle = []
        for conn in connections:
            try:
                conn.close()
            except self.dbapi.Error:
                log.warning("sqlite: closing a connection failed", exc_info=True)


DRIVERS = ("sqlite3", "auto", "sqlean")
"""The values of ``?driver=`` / ``STOWAGE_SQLITE_DRIVER`` (see :func:`resolve_dbapi`)."""


def resolve_dbapi(driver: str) -> ModuleType:
    """The DB-API module a driver name stands for.

    ``sqlite3``: Python's own (the default). ``sqlean``: sqlean.py's drop-in build of the
    same module over a SQLite that can load extensions (the ``local`` extra; wheels for
    Linux and macOS). ``auto``: ``sqlite3`` when it can load extensions, else ``sqlean``
    if installed, else ``sqlite3``. Only a process that opens the file through the store
    alone should run another SQLite than Python's (see the module docstring).

    Raises:
        ValidationError: an unknown name, or ``sqlean`` without sqlean.py installed.
    """
    if driver not in DRIVERS:
        raise ValidationError(f"sqlite driver must be one of {', '.join(DRIVERS)}: {driver!r}")
    if driver == "sqlite3" or (
        driver == "auto" and hasattr(sqlite3.Connection, "enable_load_extension")
    ):
        return sqlite3
    return _sqlean(required=driver == "sqlean")


@functools.cache  # logged once per process
def _sqlean(*, required: bool) -> ModuleType:
    try:
        import sqlean  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        if required:
            raise ValidationError(
                "sqlite driver sqlean needs sqlean.py: pip install 'stowage[local]'"
            ) from exc
        log.info(
            "sqlite: this Python's sqlite3 cannot load extensions and sqlean.py is not "
            "installed (pip install 'stowage[local]'): vector search runs in Python"
        )
        return sqlite3
    log.info("sqlite: driver sqlean.py (SQLite %s), which loads sqlite-vec", sqlean.sqlite_version)
    module: ModuleType = sqlean
    return module


@functools.cache  # logs once per driver, not once per store
def _can_load_extensions(dbapi: Any) -> bool:
    """Whether this driver was built with extension loading (and sqlite-vec is installed)."""
    if not hasattr(dbapi.Connection, "enable_load_extension"):
        log.info(
            "sqlite: %s cannot load extensions; vector search runs in Python (exact, "
            "about 16x slower on 10,000 vectors; the sqlite driver 'auto' uses sqlean.py "
            "instead where installed)", dbapi.__name__
        )
        return False
    try:
        import sqlite_vec  # noqa: F401
    except ImportError:
        log.warning("sqlite: sqlite-vec is not installed; vector search runs in Python")
        return False
    return True
