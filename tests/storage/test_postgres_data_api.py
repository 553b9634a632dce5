"""The Data API driver: request shapes, transactions, resuming, the 1 MiB and 4 MiB limits.

Runs through a real boto3 ``rds-data`` client whose HTTP requests the fake answers by
running the SQL on the real PostgreSQL server (see ``tests/storage/fakes/rds_data.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from botocore.exceptions import ParamValidationError

from storage import Message, Thread
from storage.errors import (
    ConflictError,
    ItemTooLargeError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from storage.postgres import open_data_api_url
from storage.postgres.data_api import DataApiDriver, encode_parameters
from storage.postgres.driver import Json, to_pyformat
from storage.postgres.store import PostgresStore
from tests.storage.fakes import pg
from tests.storage.fakes.rds_data import CLUSTER_ARN, SECRET_ARN, FakeDataApi

pytestmark = pytest.mark.postgres
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeDataApi]:
    url = pg.session_database()
    pg.empty_tables(url)
    api = FakeDataApi(url)
    yield api
    api.close()


def _driver(fake: FakeDataApi, **kw: Any) -> tuple[DataApiDriver, list[float]]:
    sleeps: list[float] = []
    driver = DataApiDriver(
        CLUSTER_ARN, SECRET_ARN, fake.database, client=fake.client(), sleep=sleeps.append, **kw
    )
    return driver, sleeps


def test_parameters_are_named_and_typed() -> None:
    sql = "SELECT :s, :i, :f, :b, :n, CAST(:j AS jsonb), :t::text"
    params = encode_parameters(
        sql,
        {"s": "x", "i": 7, "f": 0.5, "b": True, "n": None, "j": Json({"a": [1]}),
         "t": T0, "unused": 1},
    )
    assert params == [
        {"name": "s", "value": {"stringValue": "x"}},
        {"name": "i", "value": {"longValue": 7}},
        {"name": "f", "value": {"doubleValue": 0.5}},
        {"name": "b", "value": {"booleanValue": True}},
        {"name": "n", "value": {"isNull": True}},
        {"name": "j", "value": {"stringValue": '{"a":[1]}'}, "typeHint": "JSON"},
        {"name": "t", "value": {"stringValue": "2025-03-01T12:00:00.000Z"}},
    ]


def test_placeholders_skip_literals_casts_and_function_bodies() -> None:
    sql = "SELECT ':no', \"a:b\", x::text, :yes, $$ :body $$ -- :comment\n, 5 % 2"
    assert to_pyformat(sql) == (
        "SELECT ':no', \"a:b\", x::text, %(yes)s, $$ :body $$ -- :comment\n, 5 %% 2"
    )


def test_a_turn_is_one_execute_call_with_typed_json(fake: FakeDataApi) -> None:
    driver, _ = _driver(fake)
    store = PostgresStore(driver)
    store.setup()
    store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    fake.calls.clear()
    fake.requests.clear()

    store.memory.save_messages([
        Message(id="m-1", thread_id="t-1", role="user", content={"format": 2, "parts": []}),
        Message(id="m-2", thread_id="t-1", role="assistant", content={"format": 2, "parts": []}),
    ])

    assert fake.calls == ["Execute"]
    [request] = fake.requests
    assert request["formatRecordsAs"] == "JSON" and "transactionId" not in request
    rows = next(p for p in request["parameters"] if p["name"] == "rows")
    assert rows["typeHint"] == "JSON"
    assert [r["id"] for r in json.loads(rows["value"]["stringValue"])] == ["m-1", "m-2"]


def test_transactions_begin_run_and_commit(fake: FakeDataApi) -> None:
    driver, _ = _driver(fake)
    driver.execute("CREATE TABLE IF NOT EXISTS da_tx (id int PRIMARY KEY)")
    fake.calls.clear()
    fake.requests.clear()

    driver.transaction(lambda tx: [tx.execute("INSERT INTO da_tx VALUES (:i)", {"i": i})
                                   for i in (1, 2)])

    assert fake.calls == ["BeginTransaction", "Execute", "Execute", "CommitTransaction"]
    ids = fake.requests[1]["transactionId"], fake.requests[2]["transactionId"]
    assert ids[0] == ids[1] == fake.requests[3]["transactionId"]
    assert [r["id"] for r in driver.fetch("SELECT id FROM da_tx ORDER BY id")] == [1, 2]
    driver.execute("DROP TABLE da_tx")


def test_a_failing_transaction_is_rolled_back(fake: FakeDataApi) -> None:
    driver, _ = _driver(fake)
    driver.execute("CREATE TABLE IF NOT EXISTS da_rb (id int PRIMARY KEY)")
    fake.calls.clear()

    def body(tx: Any) -> None:
        tx.execute("INSERT INTO da_rb VALUES (:i)", {"i": 1})
        tx.execute("INSERT INTO da_rb VALUES (:i)", {"i": 1})  # duplicate key

    with pytest.raises(ConflictError, match="23505"):
        driver.transaction(body)
    assert fake.calls[-1] == "RollbackTransaction"
    assert driver.fetch("SELECT count(*) AS n FROM da_rb") == [{"n": 0}]
    driver.execute("DROP TABLE da_rb")


def test_a_resuming_cluster_is_retried_with_backoff(fake: FakeDataApi) -> None:
    driver, sleeps = _driver(fake)
    fake.resuming = 3
    assert driver.fetch("SELECT 1 AS one") == [{"one": 1}]
    assert sleeps == [0.5, 1.0, 2.0]
    assert fake.calls == ["Execute"] * 4


def test_a_cluster_that_never_resumes_is_unavailable(fake: FakeDataApi) -> None:
    driver, sleeps = _driver(fake, resume_attempts=4)
    fake.resuming = 100
    with pytest.raises(UnavailableError, match="DatabaseResumingException"):
        driver.fetch("SELECT 1 AS one")
    assert len(sleeps) == 4 and max(sleeps) <= 10.0


def test_a_read_over_1_mib_is_paged(fake: FakeDataApi) -> None:
    driver, _ = _driver(fake)
    store = PostgresStore(driver)
    store.memory.save_thread(Thread(id="t-big", resource_id="u-1"))
    text = "y" * 30_000
    store.memory.save_messages([
        Message(id=f"m-{i:03d}", thread_id="t-big", role="user",
                content={"format": 2, "parts": [{"type": "text", "text": text}]},
                created_at=T0 + timedelta(seconds=i))
        for i in range(80)  # ~2.4 MB of rows
    ])
    fake.calls.clear()

    page = store.memory.list_messages("t-big", per_page=None)

    assert [m.id for m in page.items] == [f"m-{i:03d}" for i in range(80)]
    assert page.total == 80
    assert len(fake.calls) > 2  # the first call overflowed, then pages


def test_a_value_over_the_4_mib_request_limit_is_uploaded_in_parts(fake: FakeDataApi) -> None:
    driver, _ = _driver(fake)
    fake.calls.clear()
    value = "é" * (3 * 1024 * 1024)  # 6 MiB of UTF-8, more again as escaped JSON
    rows = driver.fetch("SELECT length(:s) AS n, md5(:s) AS h", {"s": value})
    assert rows == [{"n": len(value), "h": hashlib.md5(value.encode()).hexdigest()}]
    assert fake.calls[0] == "BeginTransaction" and fake.calls[-1] == "CommitTransaction"
    assert all(len(json.dumps(r)) < 4 * 1024 * 1024 for r in fake.requests)


def test_many_medium_values_over_4_mib_are_refused_before_sending(fake: FakeDataApi) -> None:
    driver, _ = _driver(fake)
    fake.calls.clear()
    params = {f"p{i}": "x" * 60_000 for i in range(80)}  # each small, 4.8 MB together
    sql = "SELECT " + ", ".join(f"length(:p{i})" for i in range(80))
    with pytest.raises(ItemTooLargeError, match="4 MiB"):
        driver.fetch(sql, params)
    assert fake.calls == []


def test_the_fake_gets_requests_botocore_validated(fake: FakeDataApi) -> None:
    client = fake.client()
    with pytest.raises(ParamValidationError):
        client.execute_statement(
            resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN, sql="SELECT 1",
            parameters=[{"name": "x", "value": {"longValue": "not an int"}}],
        )
    response = client.execute_statement(
        resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN, database=fake.database,
        sql="SELECT CAST(:j AS jsonb) ->> 'a' AS a, :n::int AS n",
        parameters=[
            {"name": "j", "value": {"stringValue": '{"a": "b"}'}, "typeHint": "JSON"},
            {"name": "n", "value": {"longValue": 3}},
        ],
        formatRecordsAs="JSON",
    )
    assert json.loads(response["formattedRecords"]) == [{"a": "b", "n": 3}]
    assert response["numberOfRecordsUpdated"] == 0


def test_data_api_urls() -> None:
    url = (f"postgres+data-api://{CLUSTER_ARN}?secret={quote(SECRET_ARN)}&database=app")
    store = open_data_api_url(urlsplit(url))
    driver = store.driver
    assert isinstance(driver, DataApiDriver)
    assert (driver.resource_arn, driver.secret_arn, driver.database) == (
        CLUSTER_ARN, SECRET_ARN, "app")
    with pytest.raises(ValidationError, match="secret"):
        open_data_api_url(urlsplit(f"postgres+data-api://{CLUSTER_ARN}?database=app"))


def test_rows_over_the_64_kb_row_limit_are_read_in_chunks(fake: FakeDataApi) -> None:
    # Given a message of ~300 KB (multi-byte text) next to small ones
    driver, _ = _driver(fake)
    store = PostgresStore(driver)
    store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    big = "é" * 150_000 + "🙂" * 1000
    store.memory.save_messages([
        Message(id=f"m-{i}", thread_id="t-1", role="user", created_at=T0 + timedelta(seconds=i),
                content={"format": 2, "parts": [{"type": "text", "text": big if i == 1 else "s"}]})
        for i in range(3)
    ])
    # The service itself refuses to return that row whole
    with pytest.raises(Exception, match="Packet for query is too large"):
        fake.client().execute_statement(
            resourceArn=CLUSTER_ARN, secretArn=SECRET_ARN, formatRecordsAs="JSON",
            sql="SELECT content FROM mastra_messages WHERE id = 'm-1'",
        )
    # When it is read through the store, Then it comes back whole and in order
    page = store.memory.list_messages("t-1", per_page=None)
    assert [m.id for m in page.items] == ["m-0", "m-1", "m-2"] and page.total == 3
    assert page.items[1].text == big
    assert store.memory.get_messages(["m-1"])[0].text == big


def test_a_batch_over_the_request_limit_is_split_in_one_transaction(fake: FakeDataApi) -> None:
    driver, _ = _driver(fake)
    store = PostgresStore(driver)
    store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    text = "z" * 700_000
    batch = [
        Message(id=f"m-{i}", thread_id="t-1", role="user", created_at=T0 + timedelta(seconds=i),
                content={"format": 2, "parts": [{"type": "text", "text": text}]})
        for i in range(8)  # ~5.6 MB in one save
    ]
    fake.calls.clear()
    store.memory.save_messages(batch)
    assert fake.calls[0] == "BeginTransaction" and fake.calls[-1] == "CommitTransaction"
    assert fake.calls.count("Execute") >= 2
    assert [m.text for m in store.memory.get_messages([m.id for m in batch])] == [text] * 8

    # A missing thread anywhere in such a batch still writes nothing.
    with pytest.raises(NotFoundError):
        store.memory.save_messages([*batch[:6], _big("m-x", "t-missing", text)])
    assert store.memory.get_messages(["m-x"]) == []

    # One message alone over the limit is uploaded in parts, in one transaction.
    fake.calls.clear()
    store.memory.save_messages([_big("m-huge", "t-1", "h" * 5_000_000)])
    assert fake.calls[0] == "BeginTransaction" and fake.calls[-1] == "CommitTransaction"
    assert store.memory.get_messages(["m-huge"])[0].text == "h" * 5_000_000


def _big(message_id: str, thread_id: str, text: str) -> Message:
    return Message(id=message_id, thread_id=thread_id, role="user",
                   content={"format": 2, "parts": [{"type": "text", "text": text}]})
