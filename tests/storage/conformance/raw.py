"""What a store holds, read below its API: every row, item, object and key, as text.

The lifecycle tests check deletes against this, not against the API alone: a thread
whose messages, locators, counters, vectors or blobs survive would still pass a
``get_thread() is None`` check. Each backend is read with its own driver (SQLite's
file, PostgreSQL's tables, a DynamoDB Scan with a client of its own, the blob folder
or bucket), so nothing the store's code hides can hide from the test.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DOMAINS = ("memory", "workflows", "observability", "scores", "vectors")


def dump(store: Any) -> list[str]:
    """Every record the store holds, one line each: ``<where>: <content>``."""
    lines: list[str] = []
    seen: set[int] = set()
    for name in DOMAINS:
        domain = getattr(store, name, None)
        if domain is None or id(domain) in seen:
            continue
        seen.add(id(domain))
        lines += _domain_lines(domain)
    blobs = getattr(store, "blobs", None)
    if blobs is not None:
        lines += [f"blob: {key}" for key in blob_keys(blobs)]
    return sorted(set(lines))


def mentioning(store: Any, *needles: str) -> list[str]:
    """The lines of :func:`dump` that mention any of ``needles``."""
    return [line for line in dump(store) if any(n in line for n in needles)]


def _domain_lines(domain: Any) -> list[str]:
    module = type(domain).__module__
    if module.startswith("storage.memory"):
        return [
            f"{type(domain).__name__}.{attr}: {value!r}"
            for attr, table in vars(domain).items()
            if attr.startswith("_") and isinstance(table, dict | set)
            for value in (table.items() if isinstance(table, dict) else table)
        ]
    if module.startswith("storage.sqlite"):
        return _sqlite_lines(domain._db.path)
    if module.startswith("storage.postgres"):
        return _postgres_lines(domain._driver)
    if module.startswith("storage.dynamodb"):
        return _dynamodb_lines(domain.table)
    raise AssertionError(f"no raw reader for {type(domain).__name__}")


def _sqlite_lines(path: Any) -> list[str]:
    conn = sqlite3.connect(str(path))
    try:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0] != "stowage_migrations" and not r[0].startswith("sqlite_")
        ]
        return [f"{t}: {row!r}" for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')]
    finally:
        conn.close()


def _postgres_lines(driver: Any) -> list[str]:
    tables = [
        r["tablename"]
        for r in driver.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'stowage_migrations'"
        )
    ]
    return [
        f"{t}: {row['line']}"
        for t in tables
        for row in driver.fetch(f'SELECT x::text AS line FROM "{t}" x')
    ]


def _dynamodb_lines(table: str) -> list[str]:
    import boto3

    # A client of our own: the store's client refuses Scan (no request path scans).
    client = boto3.client("dynamodb", region_name="us-east-1")
    lines = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        lines += [f"{table}: {item!r}" for item in page["Items"]]
    return lines


def blob_keys(blobs: Any) -> list[str]:
    """Every key under the blob store's root."""
    module = type(blobs).__module__
    if module.startswith("storage.memory"):
        return sorted(blobs._blobs)
    if module.startswith("storage.files"):
        root = blobs.root
        return sorted(
            str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
    if module.startswith("storage.s3"):
        keys: list[str] = []
        prefix = f"{blobs.prefix}/" if blobs.prefix else ""
        for page in blobs.client.get_paginator("list_objects_v2").paginate(
            Bucket=blobs.bucket, Prefix=prefix
        ):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)
    raise AssertionError(f"no raw reader for {type(blobs).__name__}")


# --- faults ------------------------------------------------------------------------------


class InjectedFault(Exception):
    """Raised by an injected fault (not a storage error: nothing may catch it)."""


@contextmanager
def fail_blob_deletes_after(store: Any, calls: int) -> Iterator[dict[str, int]]:
    """The blob store's ``delete_prefix`` raises on every call after the first ``calls``."""
    blobs = store.blobs
    original = blobs.delete_prefix
    state = {"calls": 0, "failed": 0}

    def failing(prefix: str) -> None:
        state["calls"] += 1
        if state["calls"] > calls:
            state["failed"] += 1
            raise InjectedFault(f"blob delete {state['calls']} failed")
        original(prefix)

    blobs.delete_prefix = failing
    try:
        yield state
    finally:
        del blobs.delete_prefix  # the bound method again


@contextmanager
def fail_dynamodb_transactions_after(store: Any, calls: int) -> Iterator[dict[str, int]]:
    """The memory table's client raises before sending any transaction after ``calls``.

    A TransactWriteItems is all or nothing on DynamoDB, so a failure between two is the
    mid-way crash a DynamoDB cascade can meet.
    """
    client = store.memory.dynamo.client
    state = {"calls": 0}

    def before(**_: Any) -> None:
        state["calls"] += 1
        if state["calls"] > calls:
            raise InjectedFault(f"transaction {state['calls']} failed")

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", before)
    try:
        yield state
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", before)


@contextmanager
def fail_row_deletes_after(
    store: Any, domain_name: str, table: str, rows: int
) -> Iterator[None]:
    """A trigger aborts the transaction deleting row ``rows + 1`` of ``table``.

    SQL backends only; the deletes of batches committed before the fault stay
    committed, the failing batch rolls back whole (the fault is a real error raised
    mid-statement by the database).
    """
    domain = getattr(store, domain_name)
    module = type(domain).__module__
    if module.startswith("storage.sqlite"):
        conn = sqlite3.connect(str(domain._db.path))
        conn.executescript(
            "CREATE TABLE IF NOT EXISTS test_fault (n INTEGER NOT NULL);"
            "DELETE FROM test_fault; INSERT INTO test_fault VALUES (0);"
            f"CREATE TRIGGER test_fault_trigger AFTER DELETE ON {table} BEGIN "
            "UPDATE test_fault SET n = n + 1; "
            f"SELECT RAISE(ABORT, 'injected fault') WHERE (SELECT n FROM test_fault) > {rows}; "
            "END;"
        )
        conn.close()
        try:
            yield
        finally:
            conn = sqlite3.connect(str(domain._db.path))
            conn.executescript(
                "DROP TRIGGER IF EXISTS test_fault_trigger; DROP TABLE IF EXISTS test_fault;"
            )
            conn.close()
        return
    if module.startswith("storage.postgres"):
        driver = domain._driver
        driver.execute("CREATE TABLE IF NOT EXISTS test_fault (n integer NOT NULL)")
        driver.execute("DELETE FROM test_fault")
        driver.execute("INSERT INTO test_fault VALUES (0)")
        driver.execute(
            "CREATE OR REPLACE FUNCTION test_fault_fn() RETURNS trigger AS $$ BEGIN "
            "UPDATE test_fault SET n = n + 1; "
            f"IF (SELECT n FROM test_fault) > {rows} THEN RAISE EXCEPTION 'injected fault'; "
            "END IF; RETURN OLD; END; $$ LANGUAGE plpgsql"
        )
        driver.execute(
            f"CREATE TRIGGER test_fault_trigger AFTER DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION test_fault_fn()"
        )
        try:
            yield
        finally:
            driver.execute(f"DROP TRIGGER IF EXISTS test_fault_trigger ON {table}")
            driver.execute("DROP TABLE IF EXISTS test_fault")
        return
    raise AssertionError(f"no row fault for {type(domain).__name__}")
