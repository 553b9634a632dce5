"""The small driver interface both PostgreSQL transports implement.

The domain code writes its SQL once, with ``:name`` placeholders (the Data API's
syntax), and runs it through a :class:`Driver`: :mod:`.psycopg_driver` rewrites the
placeholders for psycopg, :mod:`.data_api` sends them as typed ``rds-data``
parameters. Both return rows as plain dicts and count what they send, so the
benchmarks can report statements and round trips per operation.

Conventions the SQL follows so both transports return the same Python values:

* JSON goes in as :class:`Json` (``jsonb`` / ``typeHint: JSON``) and is cast in SQL;
  it comes back as text (``col::text``) and is decoded by the caller.
* Timestamps go in as ISO-8601 text with ``Z`` and are cast in SQL; they come back
  as epoch milliseconds (``bigint``). The Data API's ``TIMESTAMP`` type hint carries
  no zone, so text with an explicit zone is the only unambiguous encoding.
* Lists go in as :class:`Json` arrays (the Data API has no array parameters).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

Row = dict[str, Any]
Params = Mapping[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Json:
    """A parameter sent as JSON (``jsonb`` with psycopg, ``typeHint: JSON`` on the Data API)."""

    value: Any


class DriverStats:
    """Counts what a driver did: statements, round trips, transactions and rows read.

    ``round_trips`` counts network exchanges with the server (psycopg) or API calls
    (the Data API: ``BeginTransaction`` and ``CommitTransaction`` are calls too).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.statements = 0
        self.round_trips = 0
        self.transactions = 0
        self.rows = 0

    def add(
        self, *, statements: int = 0, round_trips: int = 0, transactions: int = 0, rows: int = 0
    ) -> None:
        """Add to the counters (thread-safe)."""
        with self._lock:
            self.statements += statements
            self.round_trips += round_trips
            self.transactions += transactions
            self.rows += rows

    def snapshot(self) -> dict[str, int]:
        """The counters as a dict."""
        with self._lock:
            return {
                "statements": self.statements,
                "round_trips": self.round_trips,
                "transactions": self.transactions,
            }

    def rows_read(self) -> int:
        """Rows returned by the server since the last reset."""
        with self._lock:
            return self.rows

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.statements = self.round_trips = self.transactions = self.rows = 0


class Session(ABC):
    """Runs statements inside one open transaction."""

    @abstractmethod
    def fetch(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run one statement and return its rows."""

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        """Run one statement and return its first row, or ``None``."""
        rows = self.fetch(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; return the number of rows it changed."""


class Driver(Session):
    """A connection to one database.

    ``fetch``/``execute`` on the driver itself run one auto-committed statement (a
    single statement is atomic, so one statement is one transaction and one round
    trip). ``transaction(fn)`` runs several statements atomically.
    """

    stats: DriverStats
    # The largest statement (SQL + parameters, in bytes) the transport accepts; a bigger
    # batch is split into several statements in one transaction. None: no limit.
    max_statement_bytes: int | None = None

    @abstractmethod
    def transaction(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction: committed if it returns, rolled back if it raises.

        ``fn`` may run twice when the connection dropped before the commit was sent,
        so it must not have side effects outside the database.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


# --- placeholders ------------------------------------------------------------------------


def scan_placeholders(sql: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(start, end, name)`` of each ``:name`` placeholder outside literals.

    Skips quoted strings, quoted identifiers, comments and ``::type`` casts, the way
    the Data API's own parser does.
    """
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = sql.find(ch, i + 1)
            while end != -1 and end + 1 < n and sql[end + 1] == ch:  # doubled quote
                end = sql.find(ch, end + 2)
            i = n if end == -1 else end + 1
            continue
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end + 1
            continue
        if ch == "$":
            # Dollar-quoted body ($$...$$ or $tag$...$tag$), as in CREATE FUNCTION.
            close = sql.find("$", i + 1)
            tag = sql[i : close + 1] if close != -1 else ""
            if tag and (tag == "$$" or tag[1:-1].isidentifier()):
                end = sql.find(tag, close + 1)
                i = n if end == -1 else end + len(tag)
                continue
        if ch == ":":
            if i + 1 < n and sql[i + 1] == ":":
                i += 2  # a ::cast
                continue
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            if j > i + 1 and not sql[i + 1].isdigit():
                yield i, j, sql[i + 1 : j]
                i = j
                continue
        i += 1


def to_pyformat(sql: str) -> str:
    """Rewrite ``:name`` placeholders as psycopg's ``%(name)s`` (and escape ``%``)."""
    out: list[str] = []
    last = 0
    for start, end, name in scan_placeholders(sql):
        out.append(sql[last:start].replace("%", "%%"))
        out.append(f"%({name})s")
        last = end
    out.append(sql[last:].replace("%", "%%"))
    return "".join(out)


def placeholder_names(sql: str) -> set[str]:
    """The placeholder names a statement uses."""
    return {name for _, _, name in scan_placeholders(sql)}
