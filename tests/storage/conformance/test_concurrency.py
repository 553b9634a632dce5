"""A store is shared between threads: concurrent writes lose nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.storage.conformance.helpers import domain, make_message, new_thread, uid

WORKERS = 8


def _in_parallel(work: Callable[[int], None]) -> None:
    """Run ``work(i)`` on WORKERS threads released together; re-raise the first error."""
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            barrier.wait()
            work(worker)
        except BaseException as exc:  # collected: a worker's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors


def test_concurrent_metadata_merges_lose_no_key(store: Any) -> None:
    memory = domain(store, "memory")
    thread = new_thread(memory, metadata={"seed": 0})

    def merge(worker: int) -> None:
        for round_ in range(3):
            memory.update_thread(thread.id, metadata={f"w{worker}_r{round_}": worker})

    _in_parallel(merge)
    expected = {"seed": 0} | {f"w{w}_r{r}": w for w in range(WORKERS) for r in range(3)}
    assert memory.get_thread(thread.id).metadata == expected


def test_concurrent_message_saves_to_one_thread_all_land(store: Any) -> None:
    memory = domain(store, "memory")
    thread = new_thread(memory)
    tag = uid("c")

    def save(worker: int) -> None:
        for turn in range(3):
            memory.save_messages([
                make_message(thread.id, f"q{worker}.{turn}", message_id=f"{tag}-{worker}-{turn}-q",
                             created=worker * 10 + turn * 2),
                make_message(thread.id, f"a{worker}.{turn}", message_id=f"{tag}-{worker}-{turn}-a",
                             created=worker * 10 + turn * 2 + 1, role="assistant"),
            ])

    _in_parallel(save)
    page = memory.list_messages(thread.id, per_page=None)
    assert page.total == WORKERS * 3 * 2
    assert [m.created_at for m in page.items] == sorted(m.created_at for m in page.items)


def test_concurrent_resource_merges_lose_no_key(store: Any) -> None:
    memory = domain(store, "memory")
    resource_id = uid("res")

    def merge(worker: int) -> None:
        memory.update_resource(resource_id, metadata={f"w{worker}": worker})

    _in_parallel(merge)
    assert memory.get_resource(resource_id).metadata == {f"w{w}": w for w in range(WORKERS)}
