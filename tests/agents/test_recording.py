"""Each run is recorded: a workflow run and spans that ``list_traces`` finds."""

from __future__ import annotations

from typing import Any

import pytest

from agents import Agent, App, InlineJobRunner, Memory
from agents.models import Reply, ScriptedModel

THREAD = {"thread": "t-1", "resource": "u-1"}


def add(a: int, b: int) -> int:
    """Add."""
    return a + b


def test_run_and_spans_exist_after_generate(store: Any) -> None:
    model = ScriptedModel([Reply(tool_calls=[("add", {"a": 1, "b": 2})]), "3"])
    agent = Agent(id="calc", name="Calculator", model=model, tools=[add])
    App(agents=[agent], storage=store, jobs=InlineJobRunner())

    result = agent.generate("1+2", memory=THREAD)

    run = store.workflows.get_run(result.run_id, workflow_name="agent:calc")
    assert run is not None and run.status == "success" and run.resource_id == "u-1"
    snapshot = run.snapshot
    assert snapshot["runId"] == result.run_id
    assert [s["toolCalls"] for s in snapshot["steps"]] == [["add"], []]
    assert snapshot["result"] == {"text": "3"}

    traces = store.observability.list_traces(entity_type="agent", entity_id="calc")
    assert traces.total == 1
    root = traces.items[0]
    assert root.trace_id == result.trace_id and root.run_id == result.run_id
    assert root.thread_id == "t-1" and root.resource_id == "u-1"
    assert root.span_type == "agent_run" and root.entity_name == "Calculator"
    spans = store.observability.get_trace(result.trace_id)
    # The tree Studio draws: recall, a model call per step, the tool, save (times are cut
    # to milliseconds, so spans of one millisecond tie: compare as a multiset, then order).
    assert sorted(s.name for s in spans) == sorted([
        "agent run: 'calc'", "memory: recall", "llm: 'scripted'", "tool: 'add'",
        "llm: 'scripted'", "memory: save"])
    by_name = {s.name: s for s in spans}
    recall, save = by_name["memory: recall"], by_name["memory: save"]
    assert recall.started_at <= by_name["tool: 'add'"].started_at <= save.started_at
    assert recall.span_type == save.span_type == "memory_operation"
    assert recall.attributes == {"operationType": "recall", "lastMessages": 10, "messageCount": 0}
    assert save.attributes == {"operationType": "save", "messageCount": 2}
    assert all(root.started_at <= s.started_at and s.ended_at <= root.ended_at for s in spans)
    assert all(s.parent_span_id == root.span_id for s in spans if s is not root and
               s.span_id != root.span_id)
    tool_span = next(s for s in spans if s.span_type == "tool_call")
    assert tool_span.input == {"a": 1, "b": 2} and tool_span.output == 3
    assert store.observability.list_traces(thread_id="t-1").items[0].trace_id == result.trace_id


def test_runs_are_recorded_without_memory_too(store: Any) -> None:
    agent = Agent(id="a", memory=False)
    App(agents=[agent], storage=store)
    result = agent.generate("x", memory=THREAD)
    assert result.thread_id is None
    assert store.workflows.get_run(result.run_id).status == "success"
    assert store.observability.list_traces(entity_id="a").total == 1


def test_failed_run_is_recorded_as_failed(store: Any) -> None:
    agent = Agent(id="a", model=ScriptedModel([RuntimeError("boom")]))
    App(agents=[agent], storage=store)
    stream = agent.stream("x")
    events = list(stream)
    assert events[-1].type == "error"
    run = store.workflows.get_run(stream.run_id)
    assert run.status == "failed" and "boom" in run.snapshot["error"]["message"]
    root = store.observability.list_traces(entity_id="a").items[0]
    assert root.error["name"] == "RuntimeError"


def test_runs_go_to_app_storage_when_an_agent_has_its_own_memory_store(
    store: Any, other_store: Any
) -> None:
    agent = Agent(id="a", memory=Memory(storage=other_store))
    App(agents=[agent], storage=store)
    result = agent.generate("x", memory=THREAD)
    assert store.workflows.get_run(result.run_id) is not None
    assert other_store.workflows.get_run(result.run_id) is None
    assert store.memory.get_thread("t-1") is None


def test_a_broken_recorder_never_breaks_the_answer(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("observability down")

    monkeypatch.setattr(store.observability, "create_spans", down)
    monkeypatch.setattr(store.workflows, "persist_snapshot", down)
    agent = Agent(id="a")
    App(agents=[agent], storage=store)
    assert agent.generate("still works", memory=THREAD).text == "Echo: still works"
    assert store.memory.list_messages("t-1").total == 2
