"""Deadlines: a run out of time raises, saves nothing, and a retry then runs it again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agents import Agent, App, InlineJobRunner
from agents.deadline import Deadline, DeadlineExceededError
from agents.models import ModelError, ModelRequest, Reply, ScriptedModel
from agents.models.base import ChatMessage, TextPart
from agents.models.retry import Retry

THREAD = {"thread": "t-1", "resource": "u-1"}
QUESTION = [{"id": "q-1", "role": "user", "content": "hello"}]


def make_agent(store: Any, model: Any, **kwargs: Any) -> Agent:
    agent = Agent(id="a", model=model, **kwargs)
    App(agents=[agent], storage=store, jobs=InlineJobRunner())
    return agent


def test_a_model_slower_than_the_deadline_is_cut_and_nothing_is_saved(store: Any) -> None:
    model = ScriptedModel([Reply("too late", delay=5), "in time"])
    agent = make_agent(store, model)

    started = time.monotonic()
    with pytest.raises(DeadlineExceededError) as cut:
        agent.generate(QUESTION, memory=THREAD, timeout=0.3)

    assert time.monotonic() - started < 2, "the model call was bounded by the deadline"
    assert cut.value.retryable
    assert store.memory.list_messages("t-1").total == 0
    run = store.workflows.list_runs(workflow_name="agent:a").items[0]
    assert run.status == "failed" and run.snapshot["error"]["name"] == "DeadlineExceededError"
    # The client's retry (same message id) runs the turn again and saves it once.
    again = agent.generate(QUESTION, memory=THREAD, timeout=5)
    assert (again.text, again.run_id, again.replayed) == ("in time", run.run_id, False)
    page = store.memory.list_messages("t-1")
    assert [(m.role, m.text) for m in page.items] == [("user", "hello"), ("assistant", "in time")]


def test_an_answer_after_the_deadline_is_not_saved(store: Any) -> None:
    """A model that ignores the deadline: its late answer is dropped, never half-saved."""

    def slow(_: ModelRequest) -> str:
        time.sleep(0.4)
        return "late"

    agent = make_agent(store, ScriptedModel([slow]))
    with pytest.raises(DeadlineExceededError, match="saved"):
        agent.generate(QUESTION, memory=THREAD, timeout=0.1)
    assert store.memory.list_messages("t-1").total == 0


def test_the_deadline_is_checked_between_steps(store: Any) -> None:
    def slow_tool() -> str:
        """Takes its time."""
        time.sleep(0.3)
        return "done"

    model = ScriptedModel([Reply(tool_calls=[("slow_tool", {})]), "never asked"])
    agent = make_agent(store, model, tools=[slow_tool])
    with pytest.raises(DeadlineExceededError, match="model call"):
        agent.generate(QUESTION, memory=THREAD, timeout=0.2)
    assert len(model.requests) == 1
    assert store.memory.list_messages("t-1").total == 0


def test_the_model_request_carries_the_deadline(store: Any) -> None:
    model = ScriptedModel(["ok"])
    agent = make_agent(store, model)
    deadline = Deadline.after(10)
    agent.generate("hi", timeout=deadline)
    agent.generate("hi")
    assert model.requests[0].deadline == deadline.at
    assert model.requests[1].deadline is None


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), True])
def test_a_timeout_must_be_a_positive_number(store: Any, bad: Any) -> None:
    agent = make_agent(store, ScriptedModel(["ok"]))
    with pytest.raises(ValueError, match="timeout"):
        agent.generate("hi", timeout=bad)


# --- model clients ---------------------------------------------------------------------------


def test_retries_stop_when_the_time_left_cannot_hold_another_attempt() -> None:
    sleeps: list[float] = []
    retry = Retry(max_retries=5, backoff=0.5, sleep=sleeps.append)
    attempts: list[int] = []

    def throttled() -> str:
        attempts.append(1)
        raise ModelError("throttled", retryable=True)

    with pytest.raises(DeadlineExceededError):
        retry.call(throttled, deadline=time.monotonic() + 1.2)
    assert (len(attempts), sleeps) == (1, []), "no pause the deadline cannot afford"
    with pytest.raises(ModelError):
        retry.call(throttled, deadline=time.monotonic() + 100)
    assert len(attempts) == 1 + 6 and len(sleeps) == 5
    with pytest.raises(ModelError, match="bad input") as final:
        retry.call(lambda: (_ for _ in ()).throw(ModelError("bad input")),
                   deadline=time.monotonic() + 0.1)
    assert not isinstance(final.value, DeadlineExceededError)


def test_bedrock_bounds_its_read_timeout_and_retries_by_the_time_left() -> None:
    from agents.models.bedrock import BedrockModel

    model = BedrockModel("us.amazon.nova-lite-v1:0", region="us-east-1")
    request = ModelRequest((ChatMessage("user", (TextPart("hi"),)),),
                           deadline=time.monotonic() + 12.5)
    bounded = model.client_for(request).meta.config
    assert bounded.read_timeout == 12 and bounded.connect_timeout == 10
    assert bounded.retries["total_max_attempts"] == 1
    free = model.client_for(ModelRequest(request.messages)).meta.config
    assert free.read_timeout == 300
    assert model.client_for(request) is model.client_for(request), "one client per second"


class _SlowServer:
    """A chat-completions endpoint that answers after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        outer = self
        self.delay = delay
        self.calls = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.calls += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(outer.delay)
                body = json.dumps({"choices": [{"message": {"content": "late"},
                                                "finish_reason": "stop"}]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@pytest.fixture
def slow_server() -> Iterator[_SlowServer]:
    server = _SlowServer(delay=2.0)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_openai_bounds_each_request_by_the_time_left(slow_server: _SlowServer) -> None:
    from agents.models.openai import OpenAIModel

    model = OpenAIModel("m", base_url=slow_server.base_url, timeout=60, sleep=lambda _: None)
    request = ModelRequest((ChatMessage("user", (TextPart("hi"),)),),
                           deadline=time.monotonic() + 0.5)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        model.generate(request)
    assert time.monotonic() - started < 1.5
    assert slow_server.calls == 1, "no retry past the deadline"
