"""Statements and round trips per phase of the DESIGN §7 workload (W1-W4) on PostgreSQL.

Runs on a scratch database of the server ``STOWAGE_TEST_PG_DSN`` names, through both
transports: psycopg (round trips = network exchanges) and the Data API driver over
the fake ``rds-data`` client of the tests (round trips = API calls, by operation).
Writes ``bench/results/requests-postgres.json``.

    python -m bench.requests_postgres
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage import Message, Thread
from storage.postgres.psycopg_driver import PsycopgDriver
from storage.postgres.store import PostgresStore

RESULTS = Path(__file__).resolve().parent / "results" / "requests-postgres.json"
RESOURCE = "user-1"
THREADS = 20
TURNS = 25
TEXT = 200


def _text(i: int) -> str:
    return (f"message {i} " * 40)[:TEXT]


def _content(text: str) -> dict[str, Any]:
    return {"format": 2, "parts": [{"type": "text", "text": text}], "content": text}


class Meter:
    """Measures one phase: driver counters, Data API calls by operation, wall time."""

    def __init__(self, store: PostgresStore, calls: list[str] | None) -> None:
        self.store = store
        self.calls = calls

    def run(self, fn: Callable[[], int]) -> dict[str, Any]:
        stats = self.store.driver.stats
        stats.reset()
        before = len(self.calls) if self.calls is not None else 0
        started = time.perf_counter()
        items = fn()
        wall = time.perf_counter() - started
        result: dict[str, Any] = {**stats.snapshot(), "items_read": items,
                                  "wall_ms": round(wall * 1000, 1)}
        if self.calls is not None:
            result["requests_by_operation"] = dict(Counter(self.calls[before:]))
        return result


def run_workload(store: PostgresStore, calls: list[str] | None = None) -> dict[str, Any]:
    """W1-W4 on ``store``; returns the measurements per phase."""
    meter = Meter(store, calls)
    memory = store.memory
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    thread_ids = [f"thread-{t:02d}" for t in range(THREADS)]
    store.setup()
    phases: dict[str, Any] = {}

    def create_threads() -> int:
        for t, tid in enumerate(thread_ids):
            at = t0 + timedelta(minutes=t)
            memory.save_thread(Thread(id=tid, resource_id=RESOURCE, created_at=at, updated_at=at))
        return 0

    turn_stats: list[dict[str, int]] = []

    def turns() -> int:
        n = 0
        for turn in range(TURNS):
            for tid in thread_ids:
                at = t0 + timedelta(hours=1, seconds=n)
                before = store.driver.stats.snapshot()
                memory.save_messages([
                    Message(id=f"{tid}-{turn}-u", thread_id=tid, role="user",
                            content=_content(_text(n)), created_at=at),
                    Message(id=f"{tid}-{turn}-a", thread_id=tid, role="assistant",
                            content=_content(_text(n + 1)),
                            created_at=at + timedelta(milliseconds=500)),
                ])
                after = store.driver.stats.snapshot()
                turn_stats.append({k: after[k] - before[k] for k in after})
                n += 2
        return 0

    phases["W1_create_threads"] = meter.run(create_threads)
    phases["W1_turns"] = meter.run(turns)
    phases["W1_turns"]["turns"] = len(turn_stats)
    phases["W1_turns"]["per_turn"] = {
        k: max(s[k] for s in turn_stats) for k in ("statements", "round_trips")
    }

    def last_messages() -> int:
        return sum(
            len(memory.list_messages(tid, per_page=20, direction="desc").items)
            for tid in thread_ids
        )

    phases["W2_last_20_per_thread"] = meter.run(last_messages)
    phases["W2_last_20_per_thread"]["per_thread_statements"] = (
        phases["W2_last_20_per_thread"]["statements"] / THREADS
    )

    def first_page() -> int:
        page = memory.list_threads(resource_id=RESOURCE, per_page=10, order_by="updated_at",
                                   direction="desc")
        return len(page.items)

    phases["W3_threads_page"] = meter.run(first_page)
    def get_thread() -> int:
        return int(memory.get_thread(thread_ids[0]) is not None)

    def rename_thread() -> int:
        memory.update_thread(thread_ids[0], title="Renamed")
        return 1  # the renamed row comes back from UPDATE ... RETURNING

    def delete_thread() -> int:
        memory.delete_thread(thread_ids[1])  # 50 messages, one statement
        return 0

    phases["W4_get_thread"] = meter.run(get_thread)
    phases["W4_rename_thread"] = meter.run(rename_thread)
    phases["W4_delete_thread_50_messages"] = meter.run(delete_thread)
    return phases


def checks(phases: dict[str, Any]) -> dict[str, bool]:
    """The budgets of issue 4: a turn is one transaction, W2 one query per thread, W3 one."""
    return {
        # One auto-committed statement is one transaction (no BEGIN/COMMIT needed).
        "w1_turn_is_one_statement": phases["W1_turns"]["per_turn"]["statements"] == 1,
        "w1_no_explicit_transactions": phases["W1_turns"]["transactions"] == 0,
        "w2_one_query_per_thread": phases["W2_last_20_per_thread"]["per_thread_statements"] == 1,
        "w3_one_query": phases["W3_threads_page"]["statements"] == 1,
    }


def main() -> int:
    """Run on both transports and write the results file."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.storage.fakes import pg  # the scratch-database and fake rds-data helpers

    results: dict[str, Any] = {"suite": "requests-postgres", "workload": {
        "resource": RESOURCE, "threads": THREADS, "turns_per_thread": TURNS, "text_chars": TEXT,
    }, "transports": {}}
    for transport in ("psycopg", "data-api"):
        url = pg.create_database("stowage_bench_")
        fake = None
        try:
            if transport == "psycopg":
                store = PostgresStore(PsycopgDriver(url, pool=True, max_size=2))
                phases = run_workload(store)
            else:
                driver, fake = pg.data_api_driver(url)
                store = PostgresStore(driver)
                phases = run_workload(store, fake.calls)
            store.close()
            results["transports"][transport] = {"phases": phases, "checks": checks(phases)}
        finally:
            if fake is not None:
                fake.close()
            pg.drop_database(url)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    ok = all(all(t["checks"].values()) for t in results["transports"].values())
    print(json.dumps({t: v["checks"] for t, v in results["transports"].items()}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
