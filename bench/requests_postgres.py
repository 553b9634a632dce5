"""Statements and round trips per phase of the DESIGN §7 workload on PostgreSQL.

Runs W1-W4 (and X1) of :mod:`bench.workload`, and T1 (an agent turn through the api
handler, :mod:`bench.turns`), on a scratch database of the server
``STOWAGE_TEST_PG_DSN`` names, through both transports:

* psycopg: requests are network round trips (``statement``; ``begin/commit`` for the
  explicit transactions), counted by the driver;
* the Data API driver over the fake ``rds-data`` client of the tests (real boto3
  client, SQL run on the same server): requests are API calls by operation.

Must hold (issue 4): a W1 turn is one transaction (one auto-committed statement, one
request), W2 is one query per thread, W3 is one query.
Writes ``requests-postgres.json`` (see :mod:`bench.output`).

    python -m bench requests_postgres
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench import output
from bench.turns import turn_phase
from bench.workload import Workload
from storage.postgres.driver import Driver
from storage.postgres.psycopg_driver import PsycopgDriver
from storage.postgres.store import PostgresStore

RESULTS = "requests-postgres.json"
PHASES = ("W1", "W2", "W3", "W4", "X1")  # W5 needs a blob store's request counts


class DriverMeter:
    """The workload's meter over a PostgreSQL driver (and the fake Data API's call log)."""

    def __init__(self, driver: Driver, calls: list[str] | None = None) -> None:
        self.driver = driver
        self.calls = calls
        self._mark = 0

    def reset(self) -> None:
        """Start counting from zero."""
        self.driver.stats.reset()
        self._mark = len(self.calls) if self.calls is not None else 0

    def requests(self) -> dict[str, int]:
        """Data API calls by operation, or psycopg round trips by kind."""
        if self.calls is not None:
            return dict(Counter(f"rds-data:{op}" for op in self.calls[self._mark :]))
        stats = self.driver.stats.snapshot()
        counts = {
            "statement": stats["statements"],
            "begin/commit": stats["round_trips"] - stats["statements"],
        }
        return {op: n for op, n in counts.items() if n}

    def items_read(self) -> int:
        """Rows the server returned."""
        return self.driver.stats.rows_read()


def must_hold(phases: dict[str, Any]) -> dict[str, bool]:
    """Issue 4's budgets, from the workload's own checks and counts."""
    return {
        "W1: a turn is one transaction (one auto-committed statement, one request)": phases[
            "W1"
        ]["checks"]["every turn is one request"],
        "W2: one query per thread": phases["W2"]["checks"]["20 requests in all"],
        "W3: one query": phases["W3"]["checks"]["one request"],
    }


def main() -> int:
    """Run on both transports and write the results file."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.storage.fakes import pg  # scratch databases and the fake rds-data client

    results: dict[str, Any] = {"suite": "requests-postgres", "phases": list(PHASES),
                               "transports": {}}
    ok = True
    for transport in ("psycopg", "data-api"):
        url = pg.create_database("stowage_bench_")
        fake = None
        try:
            if transport == "psycopg":
                driver: Driver = PsycopgDriver(url, pool=True, max_size=2)
                meter = DriverMeter(driver)
            else:
                driver, fake = pg.data_api_driver(url)
                meter = DriverMeter(driver, fake.calls)
            store = PostgresStore(driver)
            store.setup()
            workload = Workload(store, meter)
            phases = workload.run(PHASES)
            phases["T1"] = turn_phase(workload)
            store.close()
        finally:
            if fake is not None:
                fake.close()
            pg.drop_database(url)
        holds = must_hold(phases)
        checks_pass = all(all(p["checks"].values()) for p in phases.values())
        ok = ok and checks_pass and all(holds.values())
        results["transports"][transport] = {"must_hold": holds, "phases": phases}
        print(f"{transport}: " + ", ".join(
            f"{name} {p['total_requests']} requests" for name, p in phases.items()))
        for name, p in phases.items():
            for check, passed in p["checks"].items():
                if not passed:
                    print(f"  FAILED {transport} {name}: {check}")
    output.write_json(RESULTS, results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
