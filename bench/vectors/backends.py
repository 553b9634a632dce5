"""Part 2 of the vectors bench: the vector conformance set on every vector backend.

The set of ``tests/storage/conformance/test_vectors.py`` (resource u-1 with 3 threads
of 50 messages, u-2 with near-copies of thread 2; 16 dimensions) on every vector
backend reachable here: search latency (p50, p95) and recall@k against exact search,
20 queries x {resource, thread} x k in {1, 3, 10}.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.vectors.common import EMBEDDER, percentiles, recall


@contextmanager
def _opened(backend: Any) -> Iterator[tuple[Any, str | None]]:
    """The backend's store, or ``(None, why)`` when it is not reachable here."""
    import pytest

    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as folder:
        try:
            manager = backend.factory(Path(folder))
            store = manager.__enter__()
        except pytest.skip.Exception as exc:  # the test helpers skip what is missing
            yield None, str(exc)
            return
        try:
            yield store, None
        finally:
            manager.__exit__(None, None, None)


def conformance_set() -> dict[str, Any]:
    """Latency and recall against exact search on the conformance recall set."""
    from tests.storage.conformance.test_vectors import Conversation, gaussian, near
    from tests.storage.conformance.vector_backends import VECTOR_BACKENDS

    out: dict[str, Any] = {}
    for backend in VECTOR_BACKENDS:
        with _opened(backend) as (store, missing):
            if store is None:
                out[backend.name] = {"unavailable": missing}
                continue
            conv = Conversation(store)
            started = time.perf_counter()
            for t in (1, 2, 3):  # the recall_set fixture of the conformance module
                conv.thread(f"u1-thread-{t}", "u-1")
                conv.bulk(f"u1-thread-{t}", {
                    f"u1-t{t}-m{n:02}": gaussian(f"u1-{t}-{n}") for n in range(1, 51)})
            conv.thread("u2-thread-1", "u-2")
            conv.bulk("u2-thread-1", {
                f"u2-t1-m{n:02}": near(gaussian(f"u1-2-{n}"), 0.01, n) for n in range(1, 51)})
            conv.upsert_all()
            build = time.perf_counter() - started
            times: list[float] = []
            recalls: dict[str, list[float]] = {}
            exact_lists = total_lists = 0
            for q in range(20):
                t = 1 + q % 3
                query = near(gaussian(f"u1-{t}-{1 + (q * 7) % 50}"), 0.6, q)
                for scope, thread in (("resource", None), ("thread", f"u1-thread-{t}")):
                    for top_k in (1, 3, 10):
                        started = time.perf_counter()
                        found = store.vectors.search(query, embedder=EMBEDDER,
                                                     resource_id="u-1", thread_id=thread,
                                                     top_k=top_k)
                        times.append(time.perf_counter() - started)
                        ids = [m.message_id for m in found]
                        exact = conv.oracle(query, "u-1", thread, top_k=top_k)
                        recalls.setdefault(f"{scope}@{top_k}", []).append(recall(ids, exact))
                        exact_lists += ids == exact
                        total_lists += 1
            out[backend.name] = {
                "build_s": round(build, 2),
                "searches": len(times),
                **percentiles(times),
                "recall": {k: round(statistics.mean(v), 4) for k, v in recalls.items()},
                "same_list_as_exact": f"{exact_lists}/{total_lists}",
            }
    return out


def table_backends(part: dict[str, Any]) -> str:
    """The latencies and recall per backend as text."""
    lines = ["conformance set (200 messages, 16 dims): backend, p50/p95 ms, recall vs exact"]
    for name, data in part.items():
        if "unavailable" in data:
            lines.append(f"  {name:<20} unavailable: {data['unavailable']}")
            continue
        recalled = " ".join(f"{k}={v:.2f}" for k, v in data["recall"].items())
        lines.append(f"  {name:<20}{data['p50_ms']:>8.2f}{data['p95_ms']:>8.2f}  {recalled}  "
                     f"same list {data['same_list_as_exact']}")
    return "\n".join(lines)
