"""An auto-paused Aurora cluster on a request path: a bounded wait, then "retry after N s".

The Data API fake answers ``DatabaseResumingException`` as the service does while the
cluster wakes; the driver with ``resume_wait`` gives up after that long and raises
``UnavailableError`` carrying a retry-after hint, which the handlers answer as a 503
with ``Retry-After`` (``tests/handlers/test_resume.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import quote

import pytest

import storage
from storage.errors import UnavailableError
from storage.postgres.data_api import TYPICAL_RESUME_SECONDS, DataApiDriver
from storage.postgres.store import PostgresStore
from tests.storage.fakes import pg
from tests.storage.fakes.rds_data import CLUSTER_ARN, SECRET_ARN, FakeDataApi

pytestmark = pytest.mark.postgres


@pytest.fixture
def fake() -> Iterator[FakeDataApi]:
    url = pg.session_database()
    pg.empty_tables(url)
    api = FakeDataApi(url)
    yield api
    api.close()


class Clock:
    """A monotonic clock that sleeping moves forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _driver(fake: FakeDataApi, clock: Clock, **kw: object) -> DataApiDriver:
    return DataApiDriver(CLUSTER_ARN, SECRET_ARN, fake.database, client=fake.client(),
                         sleep=clock.sleep, clock=clock, **kw)  # type: ignore[arg-type]


def test_a_request_path_waits_at_most_resume_wait_then_says_when_to_retry(
    fake: FakeDataApi,
) -> None:
    clock = Clock()
    driver = _driver(fake, clock, resume_wait=2.0)
    fake.resuming = 100  # the cluster takes longer than the request may wait

    with pytest.raises(UnavailableError, match="resuming") as caught:
        driver.fetch("SELECT 1 AS one")

    assert sum(clock.sleeps) <= 2.0 and clock.sleeps == [0.5, 1.0]
    assert fake.calls == ["Execute"] * 3
    # The hint counts down from the first resuming answer: 15 s minus the 1.5 s waited.
    assert caught.value.retry_after == TYPICAL_RESUME_SECONDS - 1.0  # ceil(13.5)


def test_the_hint_keeps_counting_down_across_requests_and_resets_once_up(
    fake: FakeDataApi,
) -> None:
    clock = Clock()
    driver = _driver(fake, clock, resume_wait=0.0)  # answer at once
    fake.resuming = 100

    with pytest.raises(UnavailableError) as first:
        driver.fetch("SELECT 1 AS one")
    clock.now += 10  # a client retries 10 s later: still resuming
    with pytest.raises(UnavailableError) as second:
        driver.fetch("SELECT 1 AS one")
    clock.now += 30
    with pytest.raises(UnavailableError) as late:
        driver.fetch("SELECT 1 AS one")

    assert clock.sleeps == []
    assert first.value.retry_after == 15 and second.value.retry_after == 5
    assert late.value.retry_after == 1  # overdue: retry soon, never "0" or negative
    fake.resuming = 0
    assert driver.fetch("SELECT 1 AS one") == [{"one": 1}]
    fake.resuming = 1
    clock.now += 100
    with pytest.raises(UnavailableError) as again:
        driver.fetch("SELECT 1 AS one")
    assert again.value.retry_after == 15  # a new pause counts from its own start


def test_a_cluster_that_wakes_within_the_wait_answers_normally(fake: FakeDataApi) -> None:
    clock = Clock()
    driver = _driver(fake, clock, resume_wait=2.0)
    fake.resuming = 2

    assert driver.fetch("SELECT 1 AS one") == [{"one": 1}]
    assert clock.sleeps == [0.5, 1.0]


def test_without_resume_wait_scripts_keep_the_long_backoff(fake: FakeDataApi) -> None:
    clock = Clock()
    driver = _driver(fake, clock)
    fake.resuming = 6

    assert driver.fetch("SELECT 1 AS one") == [{"one": 1}]
    assert sum(clock.sleeps) > 20  # 0.5 + 1 + 2 + 4 + 8 + 10


def test_a_transaction_begun_on_a_resuming_cluster_carries_the_hint(fake: FakeDataApi) -> None:
    clock = Clock()
    store = PostgresStore(_driver(fake, clock, resume_wait=1.0), auto_migrate=False)
    fake.resuming = 100

    with pytest.raises(UnavailableError) as caught:
        store.memory.save_thread(
            storage.Thread(id="t-1", resource_id="u-1")  # type: ignore[attr-defined]
        )
    assert caught.value.retry_after is not None
    assert "BeginTransaction" in fake.calls or "Execute" in fake.calls


def test_the_url_sets_resume_wait_and_auto_migrate(fake: FakeDataApi) -> None:
    url = (f"postgres+data-api://{quote(CLUSTER_ARN, safe=':/')}?secret={SECRET_ARN}"
           f"&database={fake.database}&resume_wait=2&auto_migrate=false")

    opened = storage.open(url)

    assert opened.driver._resume_wait == 2.0
    # auto_migrate=false: the first operation is the query itself, no migration first.
    opened.driver._client = fake.client()
    fake.requests.clear()
    # No schema in this fresh database: nothing creates it on the request path.
    with contextlib.suppress(storage.StorageError):
        opened.memory.get_thread("nope")
    (only,) = fake.requests
    assert "mastra_threads" in only["sql"] and "stowage_migrations" not in only["sql"]
    opened.setup()  # an explicit setup (the deploy's) still migrates
    assert any("stowage_migrations" in str(r.get("sql", "")) for r in fake.requests)
    with pytest.raises(storage.ValidationError, match="resume_wait"):
        storage.open(url.replace("resume_wait=2", "resume_wait=soon"))
    with pytest.raises(storage.ValidationError, match="auto_migrate"):
        storage.open(url.replace("auto_migrate=false", "auto_migrate=maybe"))
