"""Requests of a semantic memory search (``GET /api/memory/search``) on DynamoDB + S3.

``python -m bench memory_search``. Under moto, with the storage tests' SearchVectors
fake: a resource of 3 threads x 12 turns (embedded by their jobs), then searches
with Mastra's default ``topK 4, messageRange 1``, the issue's ``3, 2`` and ``10, 2``.
For each, the requests of ``agents.memory_search.semantic_search`` (every window in
one ``get_windows`` read) beside those of the per-match reads it replaced (one
``list_messages(..., include=[match], per_page=0)`` per match), after a first search
has read the index binding (a warm process).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any

from bench import aws, output

RESULTS = "memory_search.json"
DIMENSIONS = 64
TOPICS = ["cat", "sister", "car", "dentist", "wifi", "tea", "garden", "bike", "train",
          "boss", "piano", "soup"]
SCENARIOS = {"Mastra's defaults (topK 4, range 1)": (4, 1),
             "the issue's (topK 3, range 2)": (3, 2),
             "topK 10, range 2": (10, 2)}


def _per_match(agent: Any, query: str, settings: Any) -> None:
    """The previous way: the search, then one include read per match."""
    from storage.records import Include

    store = agent.storage
    vector = agent.memory.embedder.embed([query])[0]
    for match in store.vectors.search(vector, embedder=agent.memory.embedder.id,
                                      resource_id="u-1", top_k=settings.top_k):
        store.memory.list_messages(match.thread_id, resource_id="u-1", per_page=0, include=[
            Include(match.message_id, with_previous=settings.before,
                    with_next=settings.after)])


def run() -> dict[str, Any]:
    """Measure every scenario; returns the results."""
    aws.credentials()
    import moto

    from bench.aws import BotocoreMeter

    with moto.mock_aws():
        import storage
        from agents import Agent, App, InlineJobRunner, Memory
        from agents.embedders import HashEmbedder
        from agents.memory_search import semantic_search
        from agents.recall_settings import semantic_recall_settings

        try:  # moto has no SearchVectors: the storage tests' faithful fake answers it
            import tests.storage.fakes.dynamodb_vectors  # noqa: F401
        except ImportError:
            return {"unavailable": "the SearchVectors fake (tests/storage/fakes) is absent"}
        store = storage.CompositeStore(
            storage.open(f"dynamodb://search?region=us-east-1&vector_dimensions={DIMENSIONS}"),
            blobs=storage.open("s3://stowage-search/blobs?region=us-east-1"))
        store.setup()
        agent = Agent(id="assistant", model="local/echo", memory=Memory(
            last_messages=4, semantic_recall=True,
            embedder=HashEmbedder(dimensions=DIMENSIONS)))
        App(agents=[agent], storage=store, jobs=InlineJobRunner())
        for t in range(3):
            for i, topic in enumerate(TOPICS):
                agent.generate(f"note {t}-{i}: my {topic} is thing number {t}",
                               memory={"thread": f"t-{t}", "resource": "u-1"})
        meter = BotocoreMeter()
        meter.attach(store.memory.dynamo.client)
        query = "what is my cat thing"
        out: dict[str, Any] = {}
        for scenario, (top_k, message_range) in SCENARIOS.items():
            settings = semantic_recall_settings(
                {"topK": top_k, "messageRange": message_range}, None)
            assert settings is not None
            result: dict[str, Any] = {}
            for way in ("per match (before)", "batched (now)"):
                semantic_search(agent, query, resource_id="u-1", thread_id=None,
                                settings=settings)  # warm: the binding and the hints
                meter.calls.clear()
                if way.startswith("batched"):
                    hits = semantic_search(agent, query, resource_id="u-1", thread_id=None,
                                           settings=settings)
                    result["hits"] = len(hits)
                else:
                    _per_match(agent, query, settings)
                calls = Counter(meter.calls)
                result[way] = {"requests": sum(calls.values()), "by_operation": dict(calls)}
            out[scenario] = result
    return out


def report(results: dict[str, Any]) -> str:
    """The results as text."""
    if "unavailable" in results:
        return f"memory search on DynamoDB+S3: unavailable ({results['unavailable']})"
    lines = ["requests of one semantic memory search, DynamoDB+S3 (moto), warm process:"]
    for scenario, data in results.items():
        parts = []
        for way in ("per match (before)", "batched (now)"):
            ops = ", ".join(f"{k} {v}" for k, v in sorted(data[way]["by_operation"].items()))
            parts.append(f"{way} {data[way]['requests']} ({ops})")
        lines.append(f"  {scenario}, {data['hits']} hits: " + "; ".join(parts))
    return "\n".join(lines)


def main() -> int:
    """Run, print, write the JSON; non-zero when the batched search is not 2 requests."""
    target = str(output.folder())
    results = run()
    print(report(results))
    os.environ[output.ENV] = target  # tests/conftest.py (imported by the fake) clears STOWAGE_*
    output.write_json(RESULTS, results)
    if "unavailable" in results:
        return 1
    return 0 if all(d["batched (now)"]["requests"] == 2 for d in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "report", "run"]
