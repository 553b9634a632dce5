"""The stream app over HTTP (uvicorn + httpx): chunks as produced, keepalives, errors, [DONE].

A gated model blocks between words until the test lets it go, so "a chunk arrived
before the model finished" is proven by order, not by timing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import storage
from agents import Agent, App, InlineJobRunner
from agents.models.base import BaseModel, Finish, ModelError, ModelRequest, TextDelta, Usage
from handlers import _wiring
from handlers.stream import app as stream_app
from storage.records import Thread
from tests.handlers.servers import serve

WAIT = 30  # seconds: a generous bound on waits, never an assertion about speed


class GatedModel(BaseModel):
    """Yields ``words`` one by one; before each word after the first, waits for ``go``."""

    def __init__(self, words: list[str], *, fail_after: int | None = None) -> None:
        self.id = "test/gated"
        self.words = words
        self.fail_after = fail_after
        self.go = threading.Event()
        self.finished = threading.Event()

    def stream(self, request: ModelRequest) -> Iterator[Any]:
        for n, word in enumerate(self.words):
            if n == self.fail_after:
                raise ModelError("the model fell over", code="boom")
            if n > 0 and not self.go.wait(WAIT):
                raise ModelError("test never released the model")
            yield TextDelta(word)
        self.finished.set()
        yield Finish("stop", Usage(3, len(self.words)))


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, App, GatedModel]]:
    model = GatedModel(["Hello", " there", " friend"])
    store = storage.open("memory://")
    app = App(agents=[Agent(id="gated", model=model), Agent(id="echo", model="local/echo")],
              storage=store, jobs=InlineJobRunner())
    _wiring.use_app(app)
    with serve(stream_app) as base:
        yield base, app, model


def _events(lines: Iterator[str]) -> Iterator[str]:
    """SSE events (``data: ...`` or ``: comment``) as they arrive."""
    buffer: list[str] = []
    for line in lines:
        if line == "":
            if buffer:
                yield "\n".join(buffer)
                buffer = []
        else:
            buffer.append(line)


def _post(base: str, agent: str, body: dict[str, Any]) -> Any:
    client = httpx.Client(timeout=WAIT)
    return client, client.stream("POST", f"{base}/api/agents/{agent}/stream", json=body)


def test_chunks_arrive_before_the_model_finishes(served: tuple[str, App, GatedModel]) -> None:
    base, app, model = served
    body = {"messages": "hi", "memory": {"thread": "t-1", "resource": "u-1"}}
    client, request = _post(base, "gated", body)
    with client, request as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        seen: list[dict[str, Any]] = []
        events = _events(response.iter_lines())
        for event in events:
            assert event.startswith("data: ")
            chunk = json.loads(event[6:])
            seen.append(chunk)
            if chunk["type"] == "text-delta":
                break
        # The first word is on the wire while the model is still blocked on the second
        assert seen[-1]["payload"]["text"] == "Hello"
        assert not model.finished.is_set()
        assert app.storage.memory.list_messages("t-1").total == 0, "saved only at the end"
        model.go.set()
        rest = list(events)
    assert rest[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in rest[:-1] if e.startswith("data: ")]
    types = [c["type"] for c in seen + chunks]
    assert types[0] == "start" and types[-1] == "finish"
    assert all(c["from"] == "AGENT" and c["runId"] == seen[0]["runId"] for c in seen + chunks)
    assert "".join(c["payload"]["text"] for c in seen + chunks
                   if c["type"] == "text-delta") == "Hello there friend"
    # The turn is saved when the stream completes
    stored = app.storage.memory.list_messages("t-1").items
    assert [m.text for m in stored] == ["hi", "Hello there friend"]


def test_keepalive_while_the_model_is_idle(served: tuple[str, App, GatedModel],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    base, _, model = served
    monkeypatch.setenv("STOWAGE_KEEPALIVE_SECONDS", "0.05")
    _wiring.settings.cache_clear()
    client, request = _post(base, "gated", {"messages": "hi"})
    with client, request as response:
        events = _events(response.iter_lines())
        for event in events:
            if event == ": keepalive":
                break
        assert not model.finished.is_set()
        model.go.set()
        assert list(events)[-1] == "data: [DONE]"


def test_a_model_failure_is_an_error_chunk_and_saves_nothing(
        served: tuple[str, App, GatedModel]) -> None:
    base, app, model = served
    model.fail_after = 1
    client, request = _post(base, "gated", {"messages": "hi", "memory": {"thread": "t-1",
                                                                         "resource": "u-1"}})
    with client, request as response:
        assert response.status_code == 200
        events = list(_events(response.iter_lines()))
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1] if e.startswith("data: ")]
    assert [c["type"] for c in chunks][-1] == "error"
    assert chunks[-1]["payload"]["error"]["message"] == "the model fell over"
    assert "text-delta" in [c["type"] for c in chunks], "the error came mid-stream"
    assert app.storage.memory.list_messages("t-1").total == 0
    run = app.storage.workflows.get_run(chunks[0]["runId"])
    assert run is not None and run.status == "failed"


def test_a_client_that_disconnects_leaves_no_half_turn(
        served: tuple[str, App, GatedModel], caplog: pytest.LogCaptureFixture) -> None:
    base, app, model = served
    caplog.set_level(logging.INFO, logger="handlers.stream")
    app.storage.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    client, request = _post(base, "gated", {"messages": "hi", "memory": {"thread": "t-1",
                                                                         "resource": "u-1"}})
    with client, request as response:
        for event in _events(response.iter_lines()):
            if '"text-delta"' in event:
                run_id = json.loads(event[6:])["runId"]
                break
    # The server notices the client is gone (while the model is still blocked)...
    for _ in range(WAIT * 20):
        if any("client went away" in r.getMessage() for r in caplog.records):
            break
        threading.Event().wait(0.05)
    assert not model.finished.is_set()
    # ...then the model produces its next word, and the run is closed there
    model.go.set()
    recorded = threading.Event()
    for _ in range(WAIT * 20):
        run = app.storage.workflows.get_run(run_id)
        if run is not None and run.status != "running":
            recorded.set()
            break
        threading.Event().wait(0.05)
    assert recorded.is_set()
    assert app.storage.workflows.get_run(run_id).status == "canceled"
    assert app.storage.memory.list_messages("t-1").total == 0


@pytest.mark.parametrize(("agent", "body", "status"), [
    ("nobody", {"messages": "hi"}, 404),
    ("echo", {"messages": []}, 400),
    ("echo", {"messages": 3}, 400),
    ("echo", "{not json", 400),
])
def test_refusals_before_the_first_chunk_are_json(served: tuple[str, App, GatedModel],
                                                  agent: str, body: Any, status: int) -> None:
    base, app, _ = served
    content = body if isinstance(body, str) else json.dumps(body)
    reply = httpx.post(f"{base}/api/agents/{agent}/stream", content=content,
                       headers={"content-type": "application/json"}, timeout=WAIT)
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/json"
    assert isinstance(reply.json()["error"], str)
    assert app.storage.memory.list_threads().total == 0


def test_foreign_thread_under_jwt_is_404(served: tuple[str, App, GatedModel],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import jwt

    base, app, _ = served
    monkeypatch.setenv("STOWAGE_AUTH", "jwt")
    monkeypatch.setenv("STOWAGE_JWT_ISSUER", "https://issuer.test")
    monkeypatch.setenv("STOWAGE_JWT_SECRET", "s" * 40)
    _wiring.settings.cache_clear()
    app.storage.memory.save_thread(Thread(id="t-a", resource_id="alice"))
    bob = jwt.encode({"sub": "bob", "iss": "https://issuer.test", "exp": int(time.time()) + 60},
                     "s" * 40)
    reply = httpx.post(f"{base}/api/agents/echo/stream", timeout=WAIT,
                       json={"messages": "hi", "memory": {"thread": "t-a", "resource": "alice"}},
                       headers={"Authorization": f"Bearer {bob}"})
    assert reply.status_code == 404 and reply.json() == {"error": "Thread not found"}
    assert httpx.post(f"{base}/api/agents/echo/stream", json={"messages": "hi"},
                      timeout=WAIT).status_code == 401
    assert app.storage.memory.list_messages("t-a").total == 0
