"""The worker Lambda runs ``embed`` jobs: a turn queued on SQS is embedded by the worker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents import Agent, App, Memory
from agents.embedders import HashEmbedder
from handlers import _wiring
from handlers.events import LocalContext
from handlers.worker import handler
from tests.handlers.test_worker import sqs_event


class _Queue:
    """Collects what the agent queues (the SQS job runner's ``submit``)."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def submit(self, payload: Any) -> None:
        self.bodies.append(json.dumps(payload))


@pytest.fixture
def app(store: Any) -> App:
    served = App(agents=[Agent(id="assistant", model="local/echo", memory=Memory(
        semantic_recall=True, embedder=HashEmbedder()))], storage=store, jobs=_Queue())
    _wiring.use_app(served)
    return served


def test_queued_embed_jobs_run_in_the_worker(app: App) -> None:
    agent = app.get_agent("assistant")
    agent.generate("my cat is called Miso", memory={"thread": "t-1", "resource": "u-1"})
    queued = app.jobs.bodies  # type: ignore[attr-defined]
    assert [json.loads(b)["kind"] for b in queued] == ["embed"]
    assert app.storage.vectors.index() is None  # nothing embedded before the worker runs

    broken = json.dumps({"kind": "embed", "agent": "assistant", "messages": "m-1"})
    event = sqs_event(*queued, broken)
    result = handler(event, LocalContext())

    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [
        event["Records"][1]["messageId"]]
    assert app.storage.vectors.index() == ("local/hash", 256)
    vector = HashEmbedder().embed(["Echo: my cat is called Miso"])[0]
    hits = app.storage.vectors.search(vector, embedder="local/hash", resource_id="u-1")
    assert len(hits) == 2 and hits[0].score == pytest.approx(1.0, abs=1e-6)
