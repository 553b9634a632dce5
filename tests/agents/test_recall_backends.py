"""Semantic recall through an agent on every vector backend: turn, embed job, search,
windows, cascades (memory, SQLite, pgvector over psycopg and the Data API, DynamoDB's
vector index through the SearchVectors fake)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents import Agent, App, InlineJobRunner, Memory
from agents.embedders import HashEmbedder
from agents.models import ScriptedModel
from storage.errors import ValidationError
from storage.records import MessageUpdate
from tests.agents.test_recall_quality import open_backend
from tests.storage.conformance.vector_backends import vector_backend_params

DIMENSIONS = 256


@pytest.fixture(params=vector_backend_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with open_backend(request.param, tmp_path, DIMENSIONS) as opened:
        yield opened


def _agent(store: Any, **settings: Any) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(["noted"])
    agent = Agent(id="a", model=model, memory=Memory(
        last_messages=2, semantic_recall={"topK": 2, "messageRange": 1, **settings},
        embedder=HashEmbedder(dimensions=DIMENSIONS)))
    App(agents=[agent], storage=store, jobs=InlineJobRunner())
    return agent, model


def _said(model: ScriptedModel) -> str:
    request = model.requests[-1]
    return " | ".join([p.text for m in request.messages for p in m.parts]  # type: ignore[attr-defined]
                      + [request.system or ""])


def test_recall_cascades_and_tenancy_on_every_backend(store: Any) -> None:
    agent, model = _agent(store)

    def say(text: str, thread: str, resource: str = "u-1") -> None:
        agent.generate(text, memory={"thread": thread, "resource": resource})

    say("my cat is called Miso", "t-pets")
    say("my bank pin is 4471", "t-secret", resource="u-2")
    say("the garden needs watering", "t-home")
    for filler in ("buy bread", "call the plumber", "return library books"):
        say(filler, "t-now")

    say("what is my cat called", "t-now")
    assert "User: my cat is called Miso" in _said(model)  # another thread: system block
    assert "4471" not in _said(model)  # another resource: never

    say("what is my bank pin", "t-now")
    assert "4471" not in _said(model)

    store.memory.delete_thread("t-pets")
    say("what is my cat called again", "t-now")
    assert "Miso" not in _said(model)

    (garden,) = [m for m in store.memory.list_messages("t-home", per_page=None).items
                 if m.role == "user"]
    store.memory.update_messages([MessageUpdate(garden.id, content={
        "parts": [{"type": "text", "text": "the roses need pruning"}],
        "content": "the roses need pruning"})])
    say("what about the garden watering", "t-now")
    # A stale vector (garden watering) would bring the edited message back: it was dropped.
    assert "roses" not in _said(model)


def test_scope_thread_and_a_mismatched_embedder_on_every_backend(store: Any) -> None:
    agent, model = _agent(store, scope="thread", messageRange=0)
    agent.generate("my cat is called Miso", memory={"thread": "t-a", "resource": "u-1"})
    agent.generate("my dog is called Rex", memory={"thread": "t-b", "resource": "u-1"})
    agent.generate("filler one", memory={"thread": "t-b", "resource": "u-1"})
    agent.generate("filler two", memory={"thread": "t-b", "resource": "u-1"})

    agent.generate("what are my pets called", memory={"thread": "t-b", "resource": "u-1"})
    assert "my dog is called Rex" in _said(model) and "Miso" not in _said(model)

    other = Agent(id="b", model="local/echo", memory=Memory(
        semantic_recall=True, embedder=HashEmbedder(dimensions=64)))
    App(agents=[other], storage=store, jobs=InlineJobRunner())
    with pytest.raises(ValidationError):
        other.generate("hello", memory={"thread": "t-c", "resource": "u-1"})
    assert store.memory.get_thread("t-c") is None


def test_the_issue_scenario_on_every_backend(store: Any) -> None:
    """u-1: 3 threads of 50 messages; the query's nearest is thread 2 message 17; with
    top_k=3, message_range=2, scope resource, messages 15-19 of thread 2 are recalled,
    sorted by (created_at, id), deduplicated against the last-N window, never u-2's, and
    exactly what exact search and index arithmetic predict (so every backend agrees)."""
    import math
    import random
    from datetime import UTC, datetime, timedelta

    from agents.recall import Recalled, search_matches
    from agents.recall_settings import SemanticRecall
    from storage.records import Message, MessageVector, Thread

    dims = DIMENSIONS

    def gaussian(seed: str) -> list[float]:
        rng = random.Random(seed)
        return [rng.gauss(0.0, 1.0) for _ in range(dims)]

    def near(vector: list[float], noise: float, seed: str) -> list[float]:
        rng = random.Random(seed)
        return [x + rng.gauss(0.0, noise) for x in vector]

    start = datetime(2026, 1, 1, tzinfo=UTC)
    vectors: dict[str, list[float]] = {}
    order: dict[str, list[str]] = {}
    tick = 0
    for resource, thread, source in [("u-1", "t1", "t1"), ("u-1", "t2", "t2"),
                                     ("u-1", "t3", "t3"), ("u-2", "x2", "t2")]:
        store.memory.save_thread(Thread(id=thread, resource_id=resource))
        batch = []
        for n in range(1, 51):
            tick += 1
            mid = f"{thread}-m{n:02d}"
            vectors[mid] = (gaussian(f"{source}-{n}") if resource == "u-1"
                            else near(gaussian(f"{source}-{n}"), 0.01, mid))  # u-2: near-copies
            batch.append(Message(id=mid, thread_id=thread, role="user", resource_id=resource,
                                 content={"format": 2, "parts": [{"type": "text", "text": mid}]},
                                 created_at=start + timedelta(seconds=tick)))
        saved = store.memory.save_messages(batch)
        store.vectors.upsert([MessageVector(m.id, thread, resource, m.created_at,
                                            tuple(vectors[m.id]), "test/gaussian")
                              for m in saved])
        order[thread] = [m.id for m in batch]
    query = near(gaussian("t2-17"), 0.2, "query")
    settings = SemanticRecall(top_k=3, before=2, after=2, scope="resource")
    history = store.memory.list_messages("t3", per_page=4, direction="desc").items[::-1]

    matches = search_matches(store, query, embedder="test/gaussian", settings=settings,
                             resource_id="u-1", thread_id="t3")
    recalled = Recalled(settings, "test/gaussian", "u-1", store, matches=matches)
    merged, block = recalled.merge(history, "t3", window=4)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
            sum(x * x for x in a) * sum(y * y for y in b))

    mine = [i for i in vectors if not i.startswith("x2")]
    exact = sorted(mine, key=lambda i: -cos(query, vectors[i]))[:3]
    expected: set[str] = set()
    for match in exact:
        thread = match.split("-")[0]
        at = order[thread].index(match)
        expected |= set(order[thread][max(0, at - 2):at + 3])
    expected -= {m.id for m in history}

    assert [m.message_id for m in matches] == exact and exact[0] == "t2-m17"
    got = [m.id for m in recalled.messages if m.id not in {h.id for h in history}]
    assert {f"t2-m{n}" for n in range(15, 20)} <= set(got)
    assert set(got) == expected
    assert recalled.messages == sorted(recalled.messages, key=lambda m: (m.created_at, m.id))
    assert not any(m.resource_id == "u-2" for m in recalled.messages)
    assert len({m.id for m in merged}) == len(merged)  # no message twice in the prompt
    assert block is not None and "t2-m17" in block and "x2-" not in block
