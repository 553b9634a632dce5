"""Part 3 of the vectors bench: one big resource.

One resource of 10,000 messages with 384-dimension vectors (all-MiniLM-L6-v2's size)
in 200 threads, each thread's vectors around a topic of its own, as real embeddings
cluster: search latency and recall@10 against exact search on memory, SQLite
(sqlite-vec through the ``auto`` driver, and the Python distance through Python's own
sqlite3) and pgvector (HNSW, iterative scan). pgvector's recall is also measured on
unstructured vectors (independent Gaussians), the hard case for HNSW.
"""

from __future__ import annotations

import math
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.vectors.common import EMBEDDER, gauss, message, percentiles, recall, vector_of

SCALE_MESSAGES = 10_000
SCALE_DIMS = 384
SCALE_THREAD = 50
SCALE_QUERIES = 20


def _unit(vector: Sequence[float]) -> list[float]:
    from storage.vector_rules import to_float32

    rounded = to_float32(vector)
    norm = math.sqrt(math.fsum(x * x for x in rounded))
    return [x / norm for x in rounded]


def _exact(query: Sequence[float], units: dict[str, list[float]], top_k: int) -> list[str]:
    q = _unit(query)
    scored = sorted(units, key=lambda i: -sum(a * b for a, b in zip(q, units[i], strict=True)))
    return scored[:top_k]


@contextmanager
def _scale_stores() -> Iterator[list[tuple[str, Any, str | None]]]:
    """(name, store or None, why missing) for each backend measured at scale."""
    import pytest

    import storage
    from tests.storage.fakes import pgvector

    with tempfile.TemporaryDirectory(prefix="bench-vectors-scale-") as folder:
        base = Path(folder)
        stores: list[tuple[str, Any, str | None]] = [
            ("memory", storage.open("memory://"), None),
        ]
        auto = storage.open(f"sqlite:///{base / 'auto.db'}?driver=auto")
        name = f"sqlite ({auto.db.dbapi.__name__}, " + (
            "sqlite-vec)" if auto.db.has_sqlite_vec else "Python distance)")
        stores.append((name, auto, None))
        if auto.db.has_sqlite_vec:
            stores.append(("sqlite (sqlite3, Python distance)", storage.open(
                f"sqlite:///{base / 'python.db'}?driver=sqlite3"), None))
        try:
            url = pgvector.pgvector_database()
            pgvector.reset(url)
            stores.append(("pgvector (psycopg, HNSW)",
                           storage.open(url + "&min_size=1&max_size=2"), None))
        except pytest.skip.Exception as exc:
            stores.append(("pgvector (psycopg, HNSW)", None, str(exc)))
        try:
            yield stores
        finally:
            for _, store, _ in stores:
                if store is not None:
                    store.close()


def _scale_set(*, clustered: bool) -> tuple[dict[str, list[float]], list[list[float]]]:
    """10,000 vectors (around one topic per 50-message thread, or unstructured) and
    queries near some of them, as a recall query is near what it should find."""
    rng = random.Random(f"scale-{clustered}")
    topics = [gauss(rng, SCALE_DIMS) for _ in range(SCALE_MESSAGES // SCALE_THREAD)]
    vectors = {}
    for i in range(SCALE_MESSAGES):
        noise = gauss(rng, SCALE_DIMS)
        topic = topics[i // SCALE_THREAD] if clustered else [0.0] * SCALE_DIMS
        vectors[f"m-{i:05d}"] = [a + b for a, b in zip(topic, noise, strict=True)]
    ids = list(vectors)
    queries = [[x + rng.gauss(0.0, 0.8) for x in vectors[ids[rng.randrange(len(ids))]]]
               for _ in range(SCALE_QUERIES)]
    return vectors, queries


def _fill(store: Any, vectors: dict[str, list[float]]) -> float:
    """Save the scale set's threads, messages and vectors; the seconds it took."""
    from storage.records import Thread

    store.setup()
    started = time.perf_counter()
    for t in range(SCALE_MESSAGES // SCALE_THREAD):
        store.memory.save_thread(Thread(id=f"t-{t:03d}", resource_id="u-1"))
    ids = list(vectors)
    for start in range(0, SCALE_MESSAGES, 500):
        saved = store.memory.save_messages([
            message(i, f"t-{int(i[2:]) // SCALE_THREAD:03d}", int(i[2:]))
            for i in ids[start:start + 500]])
        store.vectors.upsert([vector_of(m, vectors[m.id]) for m in saved])
    return time.perf_counter() - started


def _measure(store: Any, queries: list[list[float]], exact: list[list[str]]) -> dict[str, Any]:
    resource_times, thread_times, recalls = [], [], []
    for query, truth in zip(queries, exact, strict=True):
        started = time.perf_counter()
        found = store.vectors.search(query, embedder=EMBEDDER, resource_id="u-1", top_k=10)
        resource_times.append(time.perf_counter() - started)
        recalls.append(recall([m.message_id for m in found], truth))
        started = time.perf_counter()
        store.vectors.search(query, embedder=EMBEDDER, resource_id="u-1", thread_id="t-007",
                             top_k=10)
        thread_times.append(time.perf_counter() - started)
    return {
        "resource_search": percentiles(resource_times),
        "thread_search": percentiles(thread_times),
        "recall@10": round(statistics.mean(recalls), 4),
    }


def scale() -> dict[str, Any]:
    """Latency and recall@10 on one resource of 10,000 384-dimension vectors."""
    vectors, queries = _scale_set(clustered=True)
    units = {k: _unit(v) for k, v in vectors.items()}
    exact = [_exact(q, units, 10) for q in queries]
    out: dict[str, Any] = {"messages": SCALE_MESSAGES, "dimensions": SCALE_DIMS,
                           "queries": SCALE_QUERIES}
    with _scale_stores() as stores:
        for name, store, missing in stores:
            if store is None:
                out[name] = {"unavailable": missing}
                continue
            print(f"  scale: {name} ...", flush=True)
            build = _fill(store, vectors)
            out[name] = {"build_s": round(build, 1), **_measure(store, queries, exact)}
    # HNSW's hard case: no structure, every vector about as far as every other.
    from tests.storage.fakes import pgvector

    if all("unavailable" not in v for k, v in out.items() if k.startswith("pgvector")):
        vectors, queries = _scale_set(clustered=False)
        units = {k: _unit(v) for k, v in vectors.items()}
        exact = [_exact(q, units, 10) for q in queries]
        url = pgvector.pgvector_database()
        pgvector.reset(url)
        import storage

        store = storage.open(url + "&min_size=1&max_size=2")
        try:
            _fill(store, vectors)
            measured = _measure(store, queries, exact)
        finally:
            store.close()
        out["pgvector (psycopg, HNSW), unstructured vectors"] = measured
    return out


# --- report ---------------------------------------------------------------------------


def table_scale(part: dict[str, Any]) -> str:
    """The latencies and recall@10 per backend as text."""
    lines = [f"one resource, {part['messages']} x {part['dimensions']} dims: backend, "
             "resource p50/p95 ms, thread p50 ms, recall@10"]
    for name, data in part.items():
        if not isinstance(data, dict):
            continue
        if "unavailable" in data:
            lines.append(f"  {name:<36} unavailable: {data['unavailable']}")
            continue
        r, t = data["resource_search"], data["thread_search"]
        lines.append(f"  {name:<36}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{t['p50_ms']:>8.2f}"
                     f"  {data['recall@10']:.3f}")
    return "\n".join(lines)
