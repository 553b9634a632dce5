"""Background jobs: titles (after the answer, only for untitled threads), scorers, runners."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agents import (
    Agent,
    AgentNotFoundError,
    App,
    BackgroundJobRunner,
    FunctionScorer,
    InlineJobRunner,
    Memory,
    ModelError,
    SQSJobRunner,
    run_job,
)
from agents.models import BaseModel, ModelRequest, ModelResponse, ScriptedModel

THREAD = {"thread": "t-1", "resource": "u-1"}


def test_title_generated_for_an_untitled_thread(store: Any) -> None:
    title_model = ScriptedModel(['"Trip to Lisbon."'])
    agent = Agent(id="a", memory=Memory(generate_title={"model": title_model,
                                                        "instructions": "Title it."}))
    jobs = InlineJobRunner()
    App(agents=[agent], storage=store, jobs=jobs)

    agent.generate("Plan my trip to Lisbon", memory=THREAD)

    assert store.memory.get_thread("t-1").title == "Trip to Lisbon"
    request = title_model.requests[0]
    assert request.system == "Title it."
    assert request.messages[0].text == "Plan my trip to Lisbon"
    assert jobs.submitted == [{"kind": "title", "agent": "a", "thread": "t-1",
                               "resource": "u-1"}]


def test_title_model_defaults_to_the_agents_model(store: Any) -> None:
    agent = Agent(id="a", memory=Memory(generate_title=True))
    App(agents=[agent], storage=store, jobs=InlineJobRunner())
    agent.generate("hello world", memory=THREAD)
    assert store.memory.get_thread("t-1").title == "Echo: hello world"


def test_no_title_job_for_a_titled_thread(store: Any) -> None:
    title_model = ScriptedModel(["New"])
    agent = Agent(id="a", memory=Memory(generate_title={"model": title_model}))
    jobs = InlineJobRunner()
    App(agents=[agent], storage=store, jobs=jobs)

    agent.generate("x", memory={"thread": {"id": "t-1", "title": "Mine"}, "resource": "u-1"})
    agent.generate("y", memory=THREAD)

    assert store.memory.get_thread("t-1").title == "Mine"
    assert jobs.submitted == [] and title_model.requests == []


def test_title_only_once(store: Any) -> None:
    title_model = ScriptedModel(["First title", "Second title"])
    agent = Agent(id="a", memory=Memory(generate_title={"model": title_model}))
    App(agents=[agent], storage=store, jobs=InlineJobRunner())
    agent.generate("one", memory=THREAD)
    agent.generate("two", memory=THREAD)
    assert store.memory.get_thread("t-1").title == "First title"
    assert len(title_model.requests) == 1


class _BlockingModel(BaseModel):
    """Answers only once released, so the test controls when the title exists."""

    def __init__(self) -> None:
        self.id = "test/blocking"
        self.started = threading.Event()
        self.release = threading.Event()

    def generate(self, request: ModelRequest) -> ModelResponse:
        self.started.set()
        assert self.release.wait(10), "test never released the title model"
        return ModelResponse("Late title")


def test_title_never_before_the_answer_is_returned(store: Any) -> None:
    title_model = _BlockingModel()
    agent = Agent(id="a", memory=Memory(generate_title={"model": title_model}))
    jobs = BackgroundJobRunner()
    App(agents=[agent], storage=store, jobs=jobs)
    try:
        # The answer comes back while the title model is still blocked.
        result = agent.generate("hello", memory=THREAD)
        assert result.text == "Echo: hello"
        assert store.memory.get_thread("t-1").title is None
        assert title_model.started.wait(10)
        assert store.memory.get_thread("t-1").title is None
    finally:
        title_model.release.set()
        assert jobs.drain(10)
        jobs.close()
    assert store.memory.get_thread("t-1").title == "Late title"


def test_stream_finishes_before_the_title_job_is_submitted(store: Any) -> None:
    jobs = InlineJobRunner()
    agent = Agent(id="a", memory=Memory(generate_title=True))
    App(agents=[agent], storage=store, jobs=jobs)
    stream = agent.stream("hi", memory=THREAD)
    for event in stream:
        if event.type == "finish":
            assert jobs.submitted == []
            assert store.memory.get_thread("t-1").title is None
    assert len(jobs.submitted) == 1


def test_title_failure_is_logged_not_raised(store: Any, caplog: pytest.LogCaptureFixture) -> None:
    title_model = ScriptedModel([ModelError("title model down")])
    agent = Agent(id="a", memory=Memory(generate_title={"model": title_model}))
    App(agents=[agent], storage=store, jobs=InlineJobRunner())

    with caplog.at_level(logging.ERROR, logger="agents.jobs"):
        result = agent.generate("hello", memory=THREAD)

    assert result.text == "Echo: hello"
    assert store.memory.get_thread("t-1").title is None
    assert any("job failed kind=title" in r.getMessage() for r in caplog.records)


def test_run_job_raises_and_is_idempotent(store: Any) -> None:
    title_model = ScriptedModel([ModelError("down"), "Generated"])
    agent = Agent(id="a", memory=Memory(generate_title={"model": title_model}))
    jobs = InlineJobRunner()
    app = App(agents=[agent], storage=store, jobs=jobs)
    agent.generate("hello", memory=THREAD)  # the inline attempt fails (logged)
    payload = jobs.submitted[0]

    # A queue retry: run_job raises so the record can be retried...
    title_model.script = [ModelError("still down")]
    with pytest.raises(ModelError):
        run_job(app, payload)
    # ...a user renames the thread meanwhile; the next retry must not overwrite it.
    store.memory.update_thread("t-1", title="Renamed by user")
    title_model.script = ["Generated"]
    assert run_job(app, payload) is None
    assert store.memory.get_thread("t-1").title == "Renamed by user"


def test_run_job_refuses_bad_payloads(store: Any) -> None:
    app = App(agents=[Agent(id="a")], storage=store)
    with pytest.raises(ValueError):
        run_job(app, {"kind": "nope", "agent": "a"})
    with pytest.raises(ValueError):
        run_job(app, {"kind": "title", "agent": "a"})
    with pytest.raises(AgentNotFoundError):
        run_job(app, {"kind": "title", "agent": "zzz", "thread": "t", "resource": "u"})


def test_scorer_runs_as_a_job_and_writes_a_score(store: Any) -> None:
    seen: list[Any] = []

    def length(run: Any) -> tuple[float, str]:
        seen.append(run)
        return (len(run.output) / 100, "longer is better")

    agent = Agent(id="a", scorers=[FunctionScorer("length", length)])
    jobs = InlineJobRunner()
    App(agents=[agent], storage=store, jobs=jobs)

    result = agent.generate("score me", memory=THREAD)

    page = store.scores.list_scores(run_id=result.run_id)
    assert page.total == 1
    score = page.items[0]
    assert score.scorer_id == "length" and score.score == pytest.approx(0.14)
    assert score.entity_type == "agent" and score.entity_id == "a"
    assert score.trace_id == result.trace_id and score.thread_id == "t-1"
    assert seen[0].input == "score me" and seen[0].output == "Echo: score me"
    # A retried job replaces its score rather than adding one.
    run_job(agent.app, next(p for p in jobs.submitted if p["kind"] == "score"))
    assert store.scores.list_scores(run_id=result.run_id).total == 1


def test_scorer_sampling_rate_zero_never_runs(store: Any) -> None:
    agent = Agent(id="a", scorers=[FunctionScorer("never", lambda r: (1.0, None),
                                                  sampling_rate=0.0)])
    jobs = InlineJobRunner()
    App(agents=[agent], storage=store, jobs=jobs)
    for _ in range(5):
        agent.generate("x")
    assert jobs.submitted == [] and store.scores.list_scores().total == 0


def test_background_runner_payloads_are_json(store: Any) -> None:
    jobs = BackgroundJobRunner()
    agent = Agent(id="a", memory=Memory(generate_title=True))
    App(agents=[agent], storage=store, jobs=jobs)
    agent.generate("hi", memory=THREAD)
    assert jobs.drain(10)
    jobs.close()
    assert json.loads(json.dumps(jobs.submitted)) == jobs.submitted
    assert store.memory.get_thread("t-1").title == "Echo: hi"


def test_sqs_runner_sends_json_the_worker_can_run(store: Any) -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        agent = Agent(id="a", memory=Memory(generate_title=True))
        app = App(agents=[agent], storage=store, jobs=SQSJobRunner(url, client=sqs))

        agent.generate("queued title", memory=THREAD)
        assert store.memory.get_thread("t-1").title is None  # nothing ran locally

        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert len(messages) == 1
        payload = json.loads(messages[0]["Body"])
        assert payload == {"kind": "title", "agent": "a", "thread": "t-1", "resource": "u-1"}
        # What the worker Lambda does with the record:
        assert run_job(app, payload) == "Echo: queued title"
        assert store.memory.get_thread("t-1").title == "Echo: queued title"
