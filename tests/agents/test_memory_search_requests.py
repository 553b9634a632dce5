"""``semantic_search`` (``GET /api/memory/search``) reads its windows in one batch.

On DynamoDB (moto, the SearchVectors fake) a search is one ``SearchVectors`` and one
``BatchGetItem`` for the windows of every match, whatever ``topK``; the hits keep each
match's own ``messageRange`` neighbours, as per-match reads gave them, on every
backend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from agents import Agent, App, InlineJobRunner, Memory
from agents.embedders import HashEmbedder
from agents.memory_search import semantic_search
from agents.recall_settings import semantic_recall_settings
from storage.records import Include

DIMS = 64
TOPICS = ["cat", "sister", "car", "dentist", "wifi", "tea"]


def _history(store: Any) -> App:
    agent = Agent(id="assistant", model="local/echo", memory=Memory(
        last_messages=4, semantic_recall=True, embedder=HashEmbedder(dimensions=DIMS)))
    app = App(agents=[agent], storage=store, jobs=InlineJobRunner())
    for t in range(3):
        for i, topic in enumerate(TOPICS):
            agent.generate(f"note {t}-{i}: my {topic} thing number {t}",
                           memory={"thread": f"t-{t}", "resource": "u-1"})
    agent.generate("my cat thing elsewhere", memory={"thread": "t-other", "resource": "u-2"})
    return app


def _search(app: App, **settings: Any) -> list[Any]:
    agent = app.get_agent("assistant")
    return semantic_search(agent, "my cat thing", resource_id="u-1", thread_id=None,
                           settings=semantic_recall_settings(settings, None))


def _per_match(app: App, hit: Any, before: int, after: int) -> tuple[list[str], list[str]]:
    """The match's neighbours as one list_messages include per match reads them."""
    page = app.storage.memory.list_messages(
        hit.message.thread_id, resource_id="u-1", per_page=0,
        include=[Include(hit.message.id, with_previous=before, with_next=after)])
    window = sorted(page.items, key=lambda m: (m.created_at, m.id))
    at = [m.id for m in window].index(hit.message.id)
    return [m.id for m in window[:at]], [m.id for m in window[at + 1:]]


@pytest.fixture
def aws() -> Iterator[tuple[App, Any]]:
    import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (installs SearchVectors)
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb(with_s3=True, vector_dimensions=DIMS) as (store, log):
        yield _history(store), log


@pytest.mark.parametrize(("top_k", "message_range"), [(3, 2), (6, 1), (10, 2)])
def test_dynamodb_search_reads_every_window_in_one_batch(
        aws: Any, top_k: int, message_range: int) -> None:
    app, log = aws
    _search(app, topK=1)  # the index binding is read once per process
    log.reset()
    hits = _search(app, topK=top_k, messageRange=message_range)
    calls = Counter({k.removeprefix("dynamodb."): v for k, v in log.calls.items()})
    assert calls == Counter({"SearchVectors": 1, "BatchGetItem": 1}), calls
    assert len(hits) == top_k
    assert {h.message.resource_id for h in hits} == {"u-1"}
    for hit in hits:
        before, after = _per_match(app, hit, message_range, message_range)
        assert ([m.id for m in hit.before], [m.id for m in hit.after]) == (before, after)


def test_wider_windows_than_the_neighbour_lists_fall_back_per_window(aws: Any) -> None:
    """``messageRange`` over ``neighbours.RANGE`` (2): two Queries per window, as recall."""
    app, log = aws
    _search(app, topK=1)
    log.reset()
    hits = _search(app, topK=4, messageRange=3)
    calls = Counter({k.removeprefix("dynamodb."): v for k, v in log.calls.items()})
    assert calls["SearchVectors"] == 1 and calls["Query"] <= 2 * 4, calls
    for hit in hits:
        assert ([m.id for m in hit.before], [m.id for m in hit.after]) == _per_match(
            app, hit, 3, 3)


def test_every_backend_gives_the_same_windows_as_per_match_reads(tmp_path: Any) -> None:
    import storage

    for url in ("memory://", f"sqlite:///{tmp_path}/s.db"):
        store = storage.open(url)
        store.setup()
        app = _history(store)
        hits = _search(app, topK=5, messageRange={"before": 2, "after": 1})
        assert len(hits) == 5
        for hit in hits:
            assert ([m.id for m in hit.before], [m.id for m in hit.after]) == _per_match(
                app, hit, 2, 1)
            assert all(m.thread_id == hit.message.thread_id for m in [*hit.before, *hit.after])
        store.close()
