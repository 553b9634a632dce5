"""PostgreSQL backend specifics: statements per operation, migrations, errors, Mastra rows.

The protocol semantics are the conformance suite's job; these tests pin what is
particular to this backend, on the real server (``STOWAGE_TEST_PG_DSN``) through
both transports: psycopg and the Data API (the fake ``rds-data`` over that server).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

import storage
from storage import Include, Message, MessageUpdate, Thread
from storage.errors import ConflictError, NotFoundError, UnavailableError, ValidationError
from storage.postgres.psycopg_driver import PsycopgDriver
from storage.postgres.schema import MIGRATIONS, migrate
from storage.postgres.store import PostgresStore
from tests.storage.fakes import pg

pytestmark = pytest.mark.postgres
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pg_url() -> str:
    return pg.session_database()


@pytest.fixture(params=["psycopg-pool", "psycopg-single", "data-api"])
def pgstore(request: pytest.FixtureRequest, pg_url: str) -> Iterator[PostgresStore]:
    pg.empty_tables(pg_url)
    fake = None
    if request.param == "psycopg-pool":
        store = PostgresStore(PsycopgDriver(pg_url, pool=True, max_size=4))
    elif request.param == "psycopg-single":  # the Lambda shape: one connection, shared
        store = PostgresStore(PsycopgDriver(pg_url, pool=False))
    else:
        driver, fake = pg.data_api_driver(pg_url)
        store = PostgresStore(driver)
    store.setup()
    store.driver.stats.reset()
    yield store
    store.close()
    if fake is not None:
        fake.close()


def _message(i: int, thread: str = "t-1", **kw: Any) -> Message:
    return Message(
        id=f"m-{i:03d}",
        thread_id=thread,
        role="user" if i % 2 == 0 else "assistant",
        content={"format": 2, "parts": [{"type": "text", "text": f"text {i}"}]},
        created_at=T0 + timedelta(seconds=i),
        **kw,
    )


def _statements(store: PostgresStore) -> int:
    return store.driver.stats.snapshot()["statements"]


# --- one statement per logical operation --------------------------------------------------


def test_a_turn_is_one_statement_and_one_round_trip(pgstore: PostgresStore) -> None:
    # Given a thread
    pgstore.memory.save_thread(Thread(id="t-1", resource_id="u-1", created_at=T0, updated_at=T0))
    pgstore.driver.stats.reset()
    # When a turn (user + assistant) is saved
    saved = pgstore.memory.save_messages([_message(0), _message(1)])
    # Then it took one auto-committed statement, and the thread was bumped by it
    assert pgstore.driver.stats.snapshot() == {"statements": 1, "round_trips": 1, "transactions": 0}
    assert [m.resource_id for m in saved] == ["u-1", "u-1"]
    thread = pgstore.memory.get_thread("t-1")
    assert thread is not None and thread.updated_at > T0


def test_a_turn_without_moves_is_still_one_statement(pgstore: PostgresStore) -> None:
    pgstore.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    pgstore.memory.save_thread(Thread(id="t-2", resource_id="u-2"))
    pgstore.memory.save_messages([_message(0, "t-2")])
    pgstore.driver.stats.reset()
    pgstore.memory.save_messages([_message(2), _message(3)], allow_move=False)
    assert pgstore.driver.stats.snapshot() == {"statements": 1, "round_trips": 1, "transactions": 0}
    # A refused save fails whole.
    with pytest.raises(storage.MessageIdConflictError, match="m-000"):
        pgstore.memory.save_messages([_message(4), _message(0)], allow_move=False)
    assert [m.id for m in pgstore.memory.list_messages("t-1").items] == ["m-002", "m-003"]


def test_an_id_committed_after_the_save_began_is_still_refused(pg_url: str) -> None:
    """The race the statement's snapshot cannot see: ON CONFLICT's own check catches it."""
    pg.empty_tables(pg_url)
    store = PostgresStore(PsycopgDriver(pg_url, pool=False))
    store.memory.save_thread(Thread(id="t-a", resource_id="u-a"))
    store.memory.save_thread(Thread(id="t-b", resource_id="u-b"))
    row = _message(0, "t-a")
    outcome: list[BaseException | None] = []

    def save_into_b() -> None:
        try:
            store.memory.save_messages([_message(1, "t-b"), _message(0, "t-b")],
                                       allow_move=False)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    # Given a transaction that inserts m-000 into t-a and has not committed yet
    with psycopg.connect(pg_url, autocommit=False) as other:
        other.execute(
            'INSERT INTO mastra_messages (id, thread_id, content, role, type, "createdAt", '
            '"createdAtZ", "resourceId") VALUES (%s, %s, %s, %s, %s, %s, %s, %s)',
            (row.id, row.thread_id, '{"format": 2, "parts": []}', "user", "v2",
             T0.replace(tzinfo=None), T0, "u-a"),
        )
        # When a save of m-000 into t-b starts (it waits on the uncommitted row)
        worker = threading.Thread(target=save_into_b)
        worker.start()
        worker.join(timeout=0.5)
        assert worker.is_alive(), "the save should wait for the other transaction"
        other.commit()
    worker.join(timeout=10)
    store.close()
    # Then it is refused whole: m-001 was not written, m-000 stayed in t-a
    assert len(outcome) == 1 and isinstance(outcome[0], storage.MessageIdConflictError)
    check = PostgresStore(PsycopgDriver(pg_url, pool=False))
    assert [(m.id, m.thread_id) for m in check.memory.get_messages(["m-000", "m-001"])] == [
        ("m-000", "t-a")]
    check.close()


def test_reads_are_one_statement_each(pgstore: PostgresStore) -> None:
    for t in range(3):
        pgstore.memory.save_thread(Thread(id=f"t-{t}", resource_id="u-1"))
        pgstore.memory.save_messages([_message(i + 10 * t, f"t-{t}") for i in range(5)])
    pgstore.driver.stats.reset()

    page = pgstore.memory.list_messages("t-1", per_page=2, direction="desc",
                                        include=[Include("m-000", with_next=1)])
    assert _statements(pgstore) == 1
    assert [m.id for m in page.items] == ["m-014", "m-013", "m-001", "m-000"]
    assert page.total == 5 and page.has_more

    threads = pgstore.memory.list_threads(resource_id="u-1", order_by="updated_at", per_page=2)
    assert _statements(pgstore) == 2
    assert threads.total == 3 and len(threads.items) == 2


def test_a_page_past_the_end_still_reports_the_total(pgstore: PostgresStore) -> None:
    pgstore.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    pgstore.memory.save_messages([_message(i) for i in range(3)])
    page = pgstore.memory.list_messages("t-1", page=5, per_page=10)
    assert page.items == [] and page.total == 3 and not page.has_more


def test_save_messages_to_a_missing_thread_writes_nothing(pgstore: PostgresStore) -> None:
    pgstore.memory.save_thread(Thread(id="t-1", resource_id="u-1", created_at=T0, updated_at=T0))
    with pytest.raises(NotFoundError, match="t-missing"):
        pgstore.memory.save_messages([_message(0), _message(1, "t-missing")])
    assert pgstore.memory.get_messages(["m-000", "m-001"]) == []
    thread = pgstore.memory.get_thread("t-1")
    assert thread is not None and thread.updated_at == T0


def test_update_messages_is_one_transaction_and_rolls_back(pgstore: PostgresStore) -> None:
    pgstore.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    pgstore.memory.save_messages([_message(0)])
    pgstore.driver.stats.reset()
    with pytest.raises(NotFoundError):
        pgstore.memory.update_messages(
            [MessageUpdate("m-000", metadata={"a": 1}), MessageUpdate("m-999", role="user")]
        )
    stored = pgstore.memory.get_messages(["m-000"])[0]
    assert "metadata" not in stored.content
    assert pgstore.driver.stats.snapshot()["transactions"] == 1


def test_concurrent_metadata_merges_lose_no_key(pgstore: PostgresStore) -> None:
    pgstore.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    errors: list[BaseException] = []

    def merge(i: int) -> None:
        try:
            pgstore.memory.update_thread("t-1", metadata={f"k{i}": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=merge, args=(i,)) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    thread = pgstore.memory.get_thread("t-1")
    assert thread is not None and thread.metadata == {f"k{i}": i for i in range(8)}


# --- migrations ------------------------------------------------------------------------


def test_setup_is_idempotent_and_recorded(pg_url: str) -> None:
    driver = PsycopgDriver(pg_url, pool=False)
    try:
        assert migrate(driver) == []  # the module's store already migrated this database
        rows = driver.fetch("SELECT version, name FROM stowage_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in MIGRATIONS]
    finally:
        driver.close()


def test_setup_of_an_up_to_date_database_is_one_statement(pgstore: PostgresStore) -> None:
    # Every Lambda cold start pays this, so it must stay one round trip.
    assert migrate(pgstore.driver) == []
    assert pgstore.driver.stats.snapshot() == {"statements": 1, "round_trips": 1, "transactions": 0}


def test_two_processes_setting_up_at_once_apply_each_migration_once() -> None:
    url = pg.create_database()
    try:
        drivers = [PsycopgDriver(url, pool=False) for _ in range(4)]
        results: list[list[int]] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(drivers))

        def setup(driver: PsycopgDriver) -> None:
            barrier.wait()
            try:
                results.append(migrate(driver))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        workers = [threading.Thread(target=setup, args=(d,)) for d in drivers]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert errors == []
        applied = sorted(v for r in results for v in r)
        assert applied == [m.version for m in MIGRATIONS]  # each once, by one of them
        for d in drivers:
            d.close()
    finally:
        pg.drop_database(url)


def test_the_first_operation_sets_up_a_new_database() -> None:
    url = pg.create_database()
    try:
        store = storage.open(url + "?pool=false")
        assert store.memory.get_thread("nope") is None  # no "relation does not exist"
        store.close()
    finally:
        pg.drop_database(url)


# --- errors and connections ---------------------------------------------------------------


def test_driver_errors_are_translated(pg_url: str) -> None:
    driver = PsycopgDriver(pg_url, pool=False)
    try:
        driver.execute("CREATE TEMP TABLE IF NOT EXISTS t_err (id int PRIMARY KEY)")
        driver.execute("INSERT INTO t_err VALUES (:id)", {"id": 1})
        with pytest.raises(ConflictError) as conflict:
            driver.execute("INSERT INTO t_err VALUES (:id)", {"id": 1})
        assert isinstance(conflict.value.__cause__, psycopg.errors.UniqueViolation)
        with pytest.raises(ValidationError):
            driver.fetch("SELECT CAST(:v AS integer) AS v", {"v": "not a number"})
    finally:
        driver.close()


def test_an_unreachable_server_is_unavailable() -> None:
    store = storage.open("postgresql://postgres@127.0.0.1:1/nothing?pool=false")
    with pytest.raises(UnavailableError):
        store.memory.get_thread("t-1")


def test_a_dropped_connection_is_retried_once_when_nothing_committed(pg_url: str) -> None:
    # Given a single-connection driver (as in Lambda) whose server session is killed
    driver = PsycopgDriver(pg_url, pool=False)
    calls = 0

    def body(tx: Any) -> int:
        nonlocal calls
        calls += 1
        pid = tx.fetch("SELECT pg_backend_pid() AS pid")[0]["pid"]
        if calls == 1:
            with psycopg.connect(pg_url, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        return int(tx.fetch("SELECT 41 + 1 AS answer")[0]["answer"])

    try:
        # When a transaction runs on it, Then it is re-run once on a new connection
        assert driver.transaction(body) == 42
        assert calls == 2
    finally:
        driver.close()


def test_a_pooled_connection_killed_while_idle_is_replaced(pg_url: str) -> None:
    # Given a pool of one connection whose server session dies while idle
    driver = PsycopgDriver(pg_url, pool=True, min_size=1, max_size=1)
    try:
        first = driver.fetch("SELECT pg_backend_pid() AS pid")[0]["pid"]
        with psycopg.connect(pg_url, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", [first])
        # When the next statement runs, Then it is retried once on a new connection
        second = driver.fetch("SELECT pg_backend_pid() AS pid")[0]["pid"]
        assert second != first
    finally:
        driver.close()


def test_a_connection_that_keeps_dropping_is_unavailable(pg_url: str) -> None:
    driver = PsycopgDriver(pg_url, pool=False)

    def body(tx: Any) -> None:
        tx.fetch("SELECT pg_terminate_backend(pg_backend_pid())")

    try:
        with pytest.raises(UnavailableError):
            driver.transaction(body)
    finally:
        driver.close()


def test_lambda_gets_one_connection_and_servers_a_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stowage-api")
    assert PsycopgDriver("postgresql://x/y")._use_pool is False
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    assert PsycopgDriver("postgresql://x/y")._use_pool is True


# --- Mastra-written rows ----------------------------------------------------------------------


def test_rows_written_the_way_mastra_writes_them_are_read(pgstore: PostgresStore) -> None:
    # @mastra/pg binds Date.toISOString() into both columns; older rows have no Z mirror,
    # titles are "" rather than NULL, and v1 content is a plain string.
    pgstore.driver.execute(
        'INSERT INTO mastra_threads (id, "resourceId", title, metadata, "createdAt", '
        '"updatedAt", "createdAtZ", "updatedAtZ") VALUES (:id, :r, :title, NULL, '
        "CAST(:ts AS timestamp), CAST(:ts AS timestamp), NULL, NULL)",
        {"id": "t-m", "r": "u-1", "title": "", "ts": "2025-03-01T12:00:00.123Z"},
    )
    pgstore.driver.execute(
        'INSERT INTO mastra_messages (id, thread_id, content, role, type, "createdAt", '
        '"createdAtZ", "resourceId") VALUES (:id, :t, :content, :role, :type, '
        "CAST(:ts AS timestamp), CAST(:ts AS timestamptz), :r)",
        {"id": "m-m", "t": "t-m", "content": "plain v1 text", "role": "user", "type": "v2",
         "ts": "2025-03-01T12:00:01.456Z", "r": "u-1"},
    )
    thread = pgstore.memory.get_thread("t-m")
    assert thread is not None
    assert thread.title is None and thread.metadata == {}
    assert thread.created_at == datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    [message] = pgstore.memory.list_messages("t-m").items
    assert message.text == "plain v1 text"
    assert message.created_at == datetime(2025, 3, 1, 12, 0, 1, 456000, tzinfo=UTC)


def test_timestamps_are_written_as_utc_wall_time_and_instant(pgstore: PostgresStore) -> None:
    created = datetime(2025, 3, 1, 14, 30, 0, 5000, tzinfo=UTC)
    pgstore.memory.save_thread(Thread(id="t-1", resource_id="u-1", created_at=created,
                                      updated_at=created))
    row = pgstore.driver.fetch_one(
        'SELECT to_char("createdAt", \'YYYY-MM-DD HH24:MI:SS.MS\') AS wall, '
        "to_char(\"createdAtZ\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS instant "
        "FROM mastra_threads WHERE id = :id",
        {"id": "t-1"},
    )
    assert row == {"wall": "2025-03-01 14:30:00.005", "instant": "2025-03-01 14:30:00.005"}


def test_bad_input_is_refused_before_any_sql(pgstore: PostgresStore) -> None:
    with pytest.raises(ValidationError):
        pgstore.memory.save_thread(Thread(id="t-1", resource_id="u-1", metadata={"a": "\x00"}))
    with pytest.raises(ValidationError):
        pgstore.memory.list_threads(metadata={"bad key": 1})
    assert _statements(pgstore) == 0
