"""The vectors domain (semantic recall's storage): requests, latency and recall per backend.

1. DynamoDB + S3 under moto, with the SearchVectors fake: the requests that store one
   turn's vectors (the first upsert of a process also reads the index binding; each
   reads the thread's newest messages for the neighbour lists), one search (resource
   and thread scope, and the first one of a fresh process), the windows of a search's
   matches (with the search's hints, and from a fresh process), deleting a 50-message
   thread with and without vectors; the bytes a vector and its neighbour lists add to
   a message item at 256, 384 and 1024 dimensions.
2. The vector conformance set (``tests/storage/conformance/test_vectors.py``: resource
   u-1 with 3 threads of 50 messages, u-2 with near-copies of thread 2; 16 dimensions)
   on every vector backend reachable here: search latency (p50, p95) and recall@k
   against exact search, 20 queries x {resource, thread} x k in {1, 3, 10}.
3. Scale: one resource of 10,000 messages with 384-dimension vectors (all-MiniLM-L6-v2's
   size) in 200 threads, each thread's vectors around a topic of its own, as real
   embeddings cluster: search latency and recall@10 against exact search on memory,
   SQLite (sqlite-vec through the ``auto`` driver, and the Python distance through
   Python's own sqlite3) and pgvector (HNSW, iterative scan). pgvector's recall is also
   measured on unstructured vectors (independent Gaussians), the hard case for HNSW.

Latencies are this machine's, in process; DynamoDB's are moto's and the fake's (an
exact scan in Python), reported for completeness, not as AWS figures.

    python -m bench vectors       # writes vectors.json (bench/out/, or bench/results/ with --save)
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import output

RESULTS = "vectors.json"
EMBEDDER = "test/gaussian-16"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SCALE_MESSAGES = 10_000
SCALE_DIMS = 384
SCALE_THREAD = 50
SCALE_QUERIES = 20
# Budgets this bench checks (the DESIGN's: a turn's vectors batched; a search is one request;
# the windows of a search's matches one more, their neighbour lists kept by the upsert).
TURN_UPSERT_REQUESTS = {"Query": 1, "TransactWriteItems": 1}
SEARCH_REQUESTS = 1
WINDOWS_REQUESTS = {"BatchGetItem": 1}


def _environment() -> None:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    import moto  # noqa: F401  (patches botocore before any client exists)

    import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (SearchVectors for moto)
    from tests.support import moto_dynamodb

    moto_dynamodb.install()


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"p50_ms": _ms(statistics.median(ordered)), "p95_ms": _ms(p95)}


def _message(message_id: str, thread_id: str, seconds: int) -> Any:
    from storage.records import Message

    return Message(id=message_id, thread_id=thread_id, role="user",
                   content={"format": 2, "parts": [{"type": "text", "text": "x" * 200}]},
                   created_at=T0 + timedelta(seconds=seconds))


def _vector_of(message: Any, vector: Sequence[float], embedder: str = EMBEDDER) -> Any:
    from storage.records import MessageVector

    return MessageVector(message_id=message.id, thread_id=message.thread_id,
                         resource_id=message.resource_id or "", created_at=message.created_at,
                         vector=tuple(vector), embedder=embedder)


def _gauss(rng: random.Random, dims: int) -> list[float]:
    return [rng.gauss(0.0, 1.0) for _ in range(dims)]


# --- 1. DynamoDB + S3 requests --------------------------------------------------------


def dynamodb_requests() -> dict[str, Any]:
    """Requests and item bytes of the vector operations on DynamoDB + S3 under moto."""
    import moto

    import storage
    from bench.requests_dynamodb import BotocoreMeter, DynamoProbe
    from storage.dynamodb.itemsize import attribute_size, item_size
    from storage.dynamodb.keys import message_sk
    from storage.dynamodb.store import DynamoDBStore
    from storage.records import Include, Thread

    rng = random.Random("dynamodb")
    steps: dict[str, Any] = {}
    with moto.mock_aws():
        dynamo = DynamoDBStore("bench-vectors", region="us-east-1", vector_dimensions=384)
        s3 = storage.open("s3://stowage-bench-vectors/blobs?region=us-east-1")
        store = storage.CompositeStore(dynamo, blobs=s3)
        store.setup()
        meter = BotocoreMeter()
        meter.attach(dynamo.dynamo.client)
        meter.attach(s3.blobs.client)

        def step(name: str, action: Callable[[], Any]) -> Any:
            meter.reset()
            started = time.perf_counter()
            result = action()
            steps[name] = {"requests": meter.requests(), "total": sum(meter.requests().values()),
                           "items_read": meter.items_read(),
                           "wall_ms": _ms(time.perf_counter() - started)}
            return result

        store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
        turn = step("save a turn (for reference)", lambda: store.memory.save_messages(
            [_message("m-1", "t-1", 1), _message("m-2", "t-1", 2)]))
        step("upsert a turn's 2 vectors, first in the process",
             lambda: store.vectors.upsert([_vector_of(m, _gauss(rng, 384)) for m in turn]))
        turn = store.memory.save_messages([_message("m-3", "t-1", 3), _message("m-4", "t-1", 4)])
        step("upsert a turn's 2 vectors",
             lambda: store.vectors.upsert([_vector_of(m, _gauss(rng, 384)) for m in turn]))
        query = _gauss(rng, 384)
        step("search, resource scope (top_k 4)", lambda: store.vectors.search(
            query, embedder=EMBEDDER, resource_id="u-1", top_k=4))
        step("search, thread scope (top_k 4)", lambda: store.vectors.search(
            query, embedder=EMBEDDER, resource_id="u-1", thread_id="t-1", top_k=4))
        fresh = DynamoDBStore("bench-vectors", region="us-east-1", vector_dimensions=384)
        meter.attach(fresh.dynamo.client)
        step("search, first of a fresh process", lambda: fresh.vectors.search(
            query, embedder=EMBEDDER, resource_id="u-1", top_k=4))

        # Semantic recall's windows: three threads of 40 messages, embedded a turn at a
        # time (the embed job's upserts), then the windows of a search's matches.
        for n in range(3):
            thread_id = f"t-w{n}"
            store.memory.save_thread(Thread(id=thread_id, resource_id="u-w"))
            saved = store.memory.save_messages(
                [_message(f"{thread_id}-{i:02d}", thread_id, 1000 * n + i) for i in range(40)])
            for start in range(0, 40, 2):
                store.vectors.upsert([_vector_of(m, _gauss(rng, 384))
                                      for m in saved[start:start + 2]])
        turn = store.memory.save_messages([_message("t-w0-new-a", "t-w0", 500),
                                           _message("t-w0-new-b", "t-w0", 501)])
        step("upsert a turn's 2 vectors in a 40-message thread",
             lambda: store.vectors.upsert([_vector_of(m, _gauss(rng, 384)) for m in turn]))
        for top_k, message_range in ((4, 1), (3, 2)):
            matches = store.vectors.search(query, embedder=EMBEDDER, resource_id="u-w",
                                           top_k=top_k)
            includes = [Include(m.message_id, with_previous=message_range,
                                with_next=message_range) for m in matches]
            step(f"windows of a search's {top_k} matches, range {message_range}",
                 lambda i=includes: store.memory.get_windows(i, resource_id="u-w"))
        step("the same windows, a fresh process (no hints)",
             lambda i=includes: fresh.memory.get_windows(i, resource_id="u-w"))

        for thread_id, with_vectors in (("t-plain", False), ("t-vectors", True)):
            store.memory.save_thread(Thread(id=thread_id, resource_id="u-1"))
            saved = store.memory.save_messages(
                [_message(f"{thread_id}-{i}", thread_id, 100 + i) for i in range(50)])
            if with_vectors:
                store.vectors.upsert([_vector_of(m, _gauss(rng, 384)) for m in saved])
            label = "with" if with_vectors else "without"
            step(f"delete a 50-message thread {label} vectors",
                 lambda t=thread_id: store.memory.delete_thread(t))

        sizes = {}
        for dims in (256, 384, 1024):
            sized = DynamoDBStore(f"bench-vectors-{dims}", region="us-east-1",
                                  vector_dimensions=dims)
            sized.setup()
            sized.memory.save_thread(Thread(id="t-s", resource_id="u-1"))
            # UUID-length ids, as the agent runtime makes them.
            ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(5)]
            messages = sized.memory.save_messages(
                [_message(m, "t-s", i) for i, m in enumerate(ids)])
            probe = DynamoProbe(sized.dynamo, sized.memory.table)
            before = probe.message_item_size("t-s", ids[2]) or 0
            sized.vectors.upsert([_vector_of(m, _gauss(rng, dims)) for m in messages])
            middle = messages[2]
            item = sized.dynamo.get(sized.memory.table, {
                "pk": {"S": "THREAD#t-s"}, "sk": {"S": message_sk(middle.created_at, middle.id)},
            }) or {}
            lists = sum(attribute_size(n, item[n]) for n in ("nbp", "nbn") if n in item)
            sizes[str(dims)] = {"item_bytes_without": before, "item_bytes_with": item_size(item),
                                "vector_bytes": attribute_size("vec", item["vec"]),
                                "neighbour_list_bytes": lists}
    checks = {
        "a turn's vectors: one Query (its neighbours) and one TransactWriteItems": all(
            steps[s]["requests"] == TURN_UPSERT_REQUESTS for s in (
                "upsert a turn's 2 vectors", "upsert a turn's 2 vectors in a 40-message thread")),
        "the windows of a search's matches are one BatchGetItem": all(
            steps[f"windows of a search's {k} matches, range {r}"]["requests"]
            == WINDOWS_REQUESTS for k, r in ((4, 1), (3, 2))),
        "a search is one SearchVectors": steps["search, resource scope (top_k 4)"][
            "requests"] == {"SearchVectors": SEARCH_REQUESTS},
        "vectors add no request to a thread's deletion": steps[
            "delete a 50-message thread with vectors"]["total"] == steps[
            "delete a 50-message thread without vectors"]["total"],
        "no Scan": all("Scan" not in s["requests"] for s in steps.values()),
    }
    return {"backend": "dynamodb+s3 (moto, SearchVectors fake)", "steps": steps,
            "item_sizes": sizes, "checks": checks}


# --- 2. the conformance set on every backend ------------------------------------------


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


def _recall(found: Sequence[str], exact: Sequence[str]) -> float:
    return len(set(found) & set(exact)) / len(exact) if exact else 1.0


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
                        recalls.setdefault(f"{scope}@{top_k}", []).append(_recall(ids, exact))
                        exact_lists += ids == exact
                        total_lists += 1
            out[backend.name] = {
                "build_s": round(build, 2),
                "searches": len(times),
                **_percentiles(times),
                "recall": {k: round(statistics.mean(v), 4) for k, v in recalls.items()},
                "same_list_as_exact": f"{exact_lists}/{total_lists}",
            }
    return out


# --- 3. one big resource --------------------------------------------------------------


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
    topics = [_gauss(rng, SCALE_DIMS) for _ in range(SCALE_MESSAGES // SCALE_THREAD)]
    vectors = {}
    for i in range(SCALE_MESSAGES):
        noise = _gauss(rng, SCALE_DIMS)
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
            _message(i, f"t-{int(i[2:]) // SCALE_THREAD:03d}", int(i[2:]))
            for i in ids[start:start + 500]])
        store.vectors.upsert([_vector_of(m, vectors[m.id]) for m in saved])
    return time.perf_counter() - started


def _measure(store: Any, queries: list[list[float]], exact: list[list[str]]) -> dict[str, Any]:
    resource_times, thread_times, recalls = [], [], []
    for query, truth in zip(queries, exact, strict=True):
        started = time.perf_counter()
        found = store.vectors.search(query, embedder=EMBEDDER, resource_id="u-1", top_k=10)
        resource_times.append(time.perf_counter() - started)
        recalls.append(_recall([m.message_id for m in found], truth))
        started = time.perf_counter()
        store.vectors.search(query, embedder=EMBEDDER, resource_id="u-1", thread_id="t-007",
                             top_k=10)
        thread_times.append(time.perf_counter() - started)
    return {
        "resource_search": _percentiles(resource_times),
        "thread_search": _percentiles(thread_times),
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


def run() -> dict[str, Any]:
    """Every part; the results as one dict."""
    _environment()
    results = {"dynamodb": dynamodb_requests()}
    print(table_dynamodb(results["dynamodb"]), flush=True)
    results["conformance_set"] = conformance_set()
    print(table_backends(results["conformance_set"]), flush=True)
    results["scale"] = scale()
    print(table_scale(results["scale"]), flush=True)
    return results


def table_dynamodb(part: dict[str, Any]) -> str:
    lines = [f"DynamoDB + S3 (moto): {'requests':>8}  by operation"]
    for name, data in part["steps"].items():
        ops = ", ".join(f"{op} {n}" for op, n in data["requests"].items())
        read = f" ({data['items_read']} items read)" if data.get("items_read") else ""
        lines.append(f"  {name:<48}{data['total']:>4}  {ops}{read}")
    for dims, size in part["item_sizes"].items():
        lines.append(f"  a {dims}-dimension vector adds {size['vector_bytes']} bytes to a "
                     f"message item, its neighbour lists {size['neighbour_list_bytes']} "
                     f"({size['item_bytes_without']} -> {size['item_bytes_with']})")
    lines += [f"  {'ok  ' if ok else 'FAIL'} {check}" for check, ok in part["checks"].items()]
    return "\n".join(lines)


def table_backends(part: dict[str, Any]) -> str:
    lines = ["conformance set (200 messages, 16 dims): backend, p50/p95 ms, recall vs exact"]
    for name, data in part.items():
        if "unavailable" in data:
            lines.append(f"  {name:<20} unavailable: {data['unavailable']}")
            continue
        recall = " ".join(f"{k}={v:.2f}" for k, v in data["recall"].items())
        lines.append(f"  {name:<20}{data['p50_ms']:>8.2f}{data['p95_ms']:>8.2f}  {recall}  "
                     f"same list {data['same_list_as_exact']}")
    return "\n".join(lines)


def table_scale(part: dict[str, Any]) -> str:
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


def main() -> int:
    """Run, print, write the JSON; non-zero when a DynamoDB budget check fails."""
    target = str(output.folder())
    results = run()
    # The test support modules this bench borrows (tests/conftest.py) clear STOWAGE_*.
    os.environ[output.ENV] = target
    output.write_json(RESULTS, results)
    return 0 if all(results["dynamodb"]["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
