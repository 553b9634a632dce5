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
