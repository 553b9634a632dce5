"""The psycopg 3 transport: a pool in long-lived processes, one connection per Lambda.

A Lambda container serves one request at a time and may be frozen for minutes, so
a pool there only holds idle sockets the database has to keep open; one lazily
opened connection per container is the usual pattern. Everywhere else a
``psycopg_pool.ConnectionPool`` shares connections between threads.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from storage.errors import StorageError, UnavailableError
from storage.postgres._errors import error_for_sqlstate, is_disconnect
from storage.postgres.driver import Driver, DriverStats, Json, Params, Row, Session, to_pyformat

log = logging.getLogger(__name__)
T = TypeVar("T")

Connection = psycopg.Connection[dict[str, Any]]


def in_lambda() -> bool:
    """True inside an AWS Lambda execution environment."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _adapt(params: Params | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {k: Jsonb(v.value) if isinstance(v, Json) else v for k, v in params.items()}


def translate(exc: psycopg.Error) -> StorageError:
    """A psycopg error as the matching :mod:`storage.errors` error (chain it with ``from``)."""
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate is None and isinstance(exc, psycopg.OperationalError):
        return UnavailableError(f"PostgreSQL unavailable: {exc}")
    cls = error_for_sqlstate(sqlstate)
    return cls(f"PostgreSQL error {sqlstate or ''}: {str(exc).strip()}".replace("  ", " "))


_MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]*)" does not exist')


def connect_error(exc: psycopg.Error) -> StorageError:
    """Why a connection failed, as a storage error.

    A missing database is a configuration mistake, not an outage: it is a plain
    :class:`StorageError` that says so (libpq gives no SQLSTATE for a refused
    connection, only the server's message). Anything else is :class:`UnavailableError`.
    """
    missing = _MISSING_DATABASE.search(str(exc))
    if missing:
        name = missing.group("name")
        return StorageError(
            f"PostgreSQL database {name!r} does not exist: create it first "
            f"(createdb {name}, or CREATE DATABASE {name})"
        )
    return UnavailableError(f"cannot connect to PostgreSQL: {str(exc).strip()}")


def _dropped(exc: psycopg.Error, conn: Connection | None) -> bool:
    if conn is not None and conn.broken:
        return True
    if is_disconnect(getattr(exc, "sqlstate", None)):
        return True
    return isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None


class _PsycopgSession(Session):
    def __init__(self, conn: Connection, stats: DriverStats) -> None:
        self._conn = conn
        self._stats = stats

    def fetch(self, sql: str, params: Params | None = None) -> list[Row]:
        with self._conn.cursor() as cur:
            cur.execute(to_pyformat(sql) if params is not None else sql, _adapt(params))
            rows = list(cur.fetchall()) if cur.description else []
            self._stats.add(statements=1, round_trips=1, rows=len(rows))
            return rows

    def execute(self, sql: str, params: Params | None = None) -> int:
        with self._conn.cursor() as cur:
            cur.execute(to_pyformat(sql) if params is not None else sql, _adapt(params))
            self._stats.add(statements=1, round_trips=1)
            return cur.rowcount


class PsycopgDriver(Driver):
    """Runs statements on PostgreSQL through psycopg 3.

    Args:
        conninfo: a libpq URL or DSN (``postgresql://user:pw@host:5432/db``).
        pool: use a ``ConnectionPool``; ``None`` chooses by environment (no pool in Lambda).
        min_size: pool size kept open.
        max_size: pool size cap.
        connect_timeout: seconds to wait for a connection.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        pool: bool | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        self._conninfo = conninfo
        self._use_pool = (not in_lambda()) if pool is None else pool
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = connect_timeout
        self._pool: ConnectionPool[Connection] | None = None
        self._conn: Connection | None = None
        # One connection runs one transaction at a time: serialise callers on it.
        self._lock = threading.RLock()
        self.stats = DriverStats()

    # --- connections ------------------------------------------------------------------

    def _connect(self) -> Connection:
        try:
            return psycopg.connect(
                self._conninfo,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=max(1, int(self._timeout)),
            )
        except psycopg.Error as exc:
            raise connect_error(exc) from exc

    def _get_pool(self) -> ConnectionPool[Connection]:
        with self._lock:
            if self._pool is None:
                # One direct connection first: a pool retries a refused connection in the
                # background until its timeout and then only says it got none, so a
                # missing database or a wrong password would cost 10 s and lose the reason.
                self._connect().close()
                self._pool = ConnectionPool(
                    self._conninfo,
                    connection_class=psycopg.Connection,
                    kwargs={"autocommit": True, "row_factory": dict_row},
                    min_size=self._min_size,
                    max_size=self._max_size,
                    timeout=self._timeout,
                    open=False,
                    name="stowage",
                )
                self._pool.open(wait=False)
            return self._pool

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self._use_pool:
            pool = self._get_pool()
            try:
                pooled = pool.getconn()
            except psycopg.Error as exc:  # PoolTimeout is a psycopg.OperationalError
                raise UnavailableError(f"cannot get a PostgreSQL connection: {exc}") from exc
            try:
                yield pooled
            finally:
                pool.putconn(pooled)  # the pool discards it if broken
            return
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            conn = self._conn
            try:
                yield conn
            finally:
                if conn.broken:
                    self._conn = None

    # --- running ----------------------------------------------------------------------

    def _run(self, body: Callable[[Connection], T], *, committing: list[bool]) -> T:
        for attempt in (1, 2):
            conn: Connection | None = None
            try:
                with self._connection() as conn:
                    return body(conn)
            except psycopg.Error as exc:
                dropped = _dropped(exc, conn)
                if dropped and committing and committing[0]:
                    raise UnavailableError(
                        "the PostgreSQL connection dropped while committing; "
                        "the outcome of the transaction is unknown"
                    ) from exc
                if dropped and attempt == 1:
                    log.warning("postgres: connection dropped (%s); retrying once", exc)
                    continue
                raise translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def fetch(self, sql: str, params: Params | None = None) -> list[Row]:
        """One auto-committed statement.

        Retried once on a dropped connection: every single-statement write of this
        package is an upsert, a merge or a delete, so running it again converges.
        """
        return self._run(lambda conn: _PsycopgSession(conn, self.stats).fetch(sql, params),
                         committing=[])

    def execute(self, sql: str, params: Params | None = None) -> int:
        """One auto-committed statement; see :meth:`fetch`."""
        return self._run(lambda conn: _PsycopgSession(conn, self.stats).execute(sql, params),
                         committing=[])

    def transaction(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a transaction; re-run once if the connection dropped before COMMIT."""
        committing = [False]

        def body(conn: Connection) -> T:
            committing[0] = False
            with conn.transaction():
                self.stats.add(round_trips=1, transactions=1)  # BEGIN
                result = fn(_PsycopgSession(conn, self.stats))
                committing[0] = True
            self.stats.add(round_trips=1)  # COMMIT
            return result

        return self._run(body, committing=committing)

    def close(self) -> None:
        """Close the pool or the connection."""
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None
