"""Idempotent turns: the same user message id twice is one turn, however it is retried.

Every test counts the scripted model's calls (``len(model.requests)``) and checks the
thread afterwards: one question, one answer, the answer after the question.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import storage
from agents import Agent, App, InlineJobRunner
from agents.idempotency import TurnInProgressError, TurnKey
from agents.models import ModelError, ModelRequest, Reply, ScriptedModel
from storage.records import Message
from storage.timeutil import to_epoch_ms, utcnow

THREAD = {"thread": "t-1", "resource": "u-1"}


def ask(text: str, message_id: str | None = "q-1") -> list[dict[str, Any]]:
    message: dict[str, Any] = {"role": "user", "content": text}
    if message_id is not None:
        message["id"] = message_id
    return [message]


def make_agent(store: Any, model: Any, **kwargs: Any) -> Agent:
    agent = Agent(id="a", model=model, **kwargs)
    App(agents=[agent], storage=store, jobs=InlineJobRunner())
    return agent


def roles_and_texts(store: Any, thread_id: str = "t-1") -> list[tuple[str, str]]:
    page = store.memory.list_messages(thread_id, per_page=None)
    assert page.total == len(page.items)
    return [(m.role, m.text) for m in page.items]


def gated(gate: threading.Event, called: threading.Event, text: str = "slow answer"
          ) -> Callable[[ModelRequest], Reply]:
    """A script entry that blocks until ``gate`` is set (and says it was called)."""

    def answer(_: ModelRequest) -> Reply:
        called.set()
        assert gate.wait(10), "the test never released the model"
        return Reply(text)

    return answer


# --- retries of a completed turn ------------------------------------------------------


def test_a_retry_of_a_completed_turn_returns_the_stored_answer(store: Any) -> None:
    model = ScriptedModel(["first answer", "second answer"])
    agent = make_agent(store, model)

    first = agent.generate(ask("hello"), memory=THREAD)
    again = agent.generate(ask("hello"), memory=THREAD)

    assert len(model.requests) == 1, "no second model call"
    assert (again.text, again.run_id, again.replayed) == ("first answer", first.run_id, True)
    assert [m.id for m in again.messages] == [m.id for m in first.messages]
    assert again.usage == first.usage and again.trace_id == first.trace_id
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "first answer")]
    assert not first.replayed


def test_a_stream_retry_streams_the_stored_answer_in_chunk_shapes(store: Any) -> None:
    model = ScriptedModel(["the stored answer"])
    agent = make_agent(store, model)
    first = agent.generate(ask("hello"), memory=THREAD)

    stream = agent.stream(ask("hello"), memory=THREAD)
    events = list(stream)

    kinds = [e.type for e in events]
    assert kinds == ["start", "step-start", "text-start", "text-delta", "text-end",
                     "step-finish", "finish"]
    assert "".join(e.payload["text"] for e in events if e.type == "text-delta") == first.text
    assert {e.run_id for e in events} == {first.run_id}
    finish = events[-1].payload
    assert finish["output"]["text"] == first.text
    assert [m["id"] for m in finish["messages"]["nonUser"]] == [first.messages[1].id]
    assert stream.result is not None and stream.result.replayed
    assert len(model.requests) == 1
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "the stored answer")]


def test_a_replay_keeps_tool_calls_and_steps(store: Any) -> None:
    def weather(city: str) -> str:
        """Weather."""
        return f"sunny in {city}"

    model = ScriptedModel([Reply("Looking.", tool_calls=[("weather", {"city": "Oslo"})]),
                           "It is sunny."])
    agent = make_agent(store, model, tools=[weather])
    first = agent.generate(ask("weather?"), memory=THREAD)

    events = list(agent.stream(ask("weather?"), memory=THREAD))

    assert len(model.requests) == 2  # the first run's two steps, nothing more
    kinds = [e.type for e in events]
    assert kinds.count("step-start") == 2 and kinds.count("step-finish") == 2
    calls = [e.payload for e in events if e.type == "tool-call"]
    results = [e.payload for e in events if e.type == "tool-result"]
    assert [(c["toolName"], c["args"]) for c in calls] == [("weather", {"city": "Oslo"})]
    assert results[0]["result"] == "sunny in Oslo"
    replay = agent.generate(ask("weather?"), memory=THREAD)
    assert replay.text == first.text == "It is sunny."
    assert [c.name for c in replay.tool_calls] == ["weather"]
    assert replay.finish_reason == first.finish_reason and replay.usage == first.usage


def test_a_different_message_id_is_a_new_turn(store: Any) -> None:
    model = ScriptedModel(["one", "two"])
    agent = make_agent(store, model)
    agent.generate(ask("hello", "q-1"), memory=THREAD)
    second = agent.generate(ask("hello", "q-2"), memory=THREAD)
    assert (second.text, second.replayed, len(model.requests)) == ("two", False, 2)
    assert [r for r, _ in roles_and_texts(store)] == ["user", "assistant"] * 2


def test_calls_without_ids_are_never_deduplicated_and_cost_no_lookup(store: Any) -> None:
    model = ScriptedModel(["one", "two"])
    agent = make_agent(store, model)
    loads: list[Any] = []
    original = store.workflows.load_snapshot
    store.workflows.load_snapshot = lambda *a, **k: loads.append(a) or original(*a, **k)

    agent.generate("hello", memory=THREAD)
    agent.generate("hello", memory=THREAD)
    assert (len(model.requests), loads) == (2, [])
    agent.generate(ask("hello", "q-9"), memory=THREAD)
    assert len(loads) == 1, "one read when the caller gives an id"


def test_a_retry_after_the_messages_were_deleted_runs_again(store: Any) -> None:
    model = ScriptedModel(["one", "two"])
    agent = make_agent(store, model)
    first = agent.generate(ask("hello"), memory=THREAD)
    store.memory.delete_messages([m.id for m in first.messages])

    again = agent.generate(ask("hello"), memory=THREAD)

    assert (again.text, again.replayed, len(model.requests)) == ("two", False, 2)
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "two")]


def test_ids_are_derived_per_thread_so_two_threads_never_share_an_answer(store: Any) -> None:
    model = ScriptedModel(["in one", "in two"])
    agent = make_agent(store, model)
    a = agent.generate(ask("hi", "q-1"), memory={"thread": "t-1", "resource": "u-1"})
    key = TurnKey("a", "t-1", "q-1")
    assert (a.run_id, a.messages[1].id) == (key.run_id, key.answer_id)
    assert TurnKey("a", "t-2", "q-1").answer_id != key.answer_id


# --- retries while the first attempt runs ---------------------------------------------------


def test_a_retry_while_the_first_attempt_runs_is_refused(store: Any) -> None:
    gate, called = threading.Event(), threading.Event()
    model = ScriptedModel([gated(gate, called)])
    agent = make_agent(store, model)
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(
        agent.generate(ask("hello"), memory=THREAD)))
    first.start()
    try:
        assert called.wait(10)
        with pytest.raises(TurnInProgressError) as refused:
            agent.generate(ask("hello"), memory=THREAD)
        assert refused.value.retryable and isinstance(refused.value, storage.ConflictError)
        with pytest.raises(TurnInProgressError):
            agent.stream(ask("hello"), memory=THREAD)
    finally:
        gate.set()
        first.join(10)
    assert len(model.requests) == 1
    replay = agent.generate(ask("hello"), memory=THREAD)
    assert replay.replayed and replay.text == results[0].text == "slow answer"
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "slow answer")]


def test_a_failed_first_attempt_is_run_again_by_the_retry(store: Any) -> None:
    model = ScriptedModel([ModelError("throttled", retryable=True), "second try"])
    agent = make_agent(store, model)
    with pytest.raises(ModelError):
        agent.generate(ask("hello"), memory=THREAD)
    assert store.memory.list_messages("t-1").total == 0

    again = agent.generate(ask("hello"), memory=THREAD)

    assert (again.text, again.replayed, len(model.requests)) == ("second try", False, 2)
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "second try")]


def test_a_canceled_stream_is_run_again_by_the_retry(store: Any) -> None:
    model = ScriptedModel(["one two three four", "again"])
    agent = make_agent(store, model)
    stream = agent.stream(ask("hello"), memory=THREAD)
    while next(stream).type != "text-delta":
        pass
    stream.close()  # the client went away: nothing saved, the run is canceled
    run = store.workflows.get_run(stream.run_id)
    assert run is not None and run.status == "canceled"

    again = agent.generate(ask("hello"), memory=THREAD)
    assert (again.text, again.run_id) == ("again", stream.run_id)
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "again")]


def _crashed_run(store: Any, key: TurnKey, *, lease_ms: int) -> None:
    """The snapshot a run leaves when its process dies after writing ``running``."""
    store.workflows.persist_snapshot(f"agent:{key.agent_id}", key.run_id, {
        "runId": key.run_id, "status": "running", "steps": [],
        "timestamp": to_epoch_ms(utcnow()) - 60_000,
        "context": {"threadId": key.thread_id, "messageId": key.message_id,
                    "leaseExpiresAt": to_epoch_ms(utcnow()) + lease_ms}})


def test_a_crashed_attempt_blocks_retries_until_its_lease_expires(store: Any) -> None:
    model = ScriptedModel(["after the crash"])
    agent = make_agent(store, model)
    key = TurnKey("a", "t-1", "q-1")
    store.memory.save_thread(storage.Thread(id="t-1", resource_id="u-1"))

    _crashed_run(store, key, lease_ms=60_000)
    with pytest.raises(TurnInProgressError):
        agent.generate(ask("hello"), memory=THREAD)

    _crashed_run(store, key, lease_ms=-1)  # the lease ran out: the run is dead
    result = agent.generate(ask("hello"), memory=THREAD)
    assert (result.text, result.replayed, len(model.requests)) == ("after the crash", False, 1)
    assert store.workflows.get_run(key.run_id).status == "success"
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "after the crash")]


def test_a_crash_after_the_save_is_replayed_once_the_lease_expires(store: Any) -> None:
    model = ScriptedModel(["saved before the crash", "never"])
    agent = make_agent(store, model)
    first = agent.generate(ask("hello"), memory=THREAD)
    key = TurnKey("a", "t-1", "q-1")
    _crashed_run(store, key, lease_ms=-1)  # as if the process died before "success"

    again = agent.generate(ask("hello"), memory=THREAD)

    assert (again.text, again.replayed, len(model.requests)) == (first.text, True, 1)


def test_a_snapshot_without_a_lease_uses_the_default_one(store: Any) -> None:
    from agents.idempotency import DEFAULT_LEASE_SECONDS, is_in_flight

    now = to_epoch_ms(utcnow())
    assert is_in_flight({"status": "running", "timestamp": now})
    old = now - DEFAULT_LEASE_SECONDS * 1000 - 1
    assert not is_in_flight({"status": "running", "timestamp": old})
    assert not is_in_flight({"status": "success", "timestamp": now})


def test_racing_duplicates_overwrite_instead_of_appending(store: Any) -> None:
    """Without recorded runs both attempts run, and the second save overwrites the first."""
    gate, called = threading.Event(), threading.Event()
    model = ScriptedModel([gated(gate, called, "same answer")])
    memory_only = storage.CompositeStore(memory=store)  # no workflows: nothing to see
    agent = make_agent(memory_only, model)
    workers = [threading.Thread(target=agent.generate, args=(ask("hello"),),
                                kwargs={"memory": THREAD}) for _ in range(3)]
    for worker in workers:
        worker.start()
    assert called.wait(10)
    gate.set()
    for worker in workers:
        worker.join(10)
    assert len(model.requests) >= 2, "the attempts did race"
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "same answer")]


# --- ids of other threads --------------------------------------------------------------------


def test_a_message_id_of_another_thread_is_refused_and_nothing_is_stored(store: Any) -> None:
    model = ScriptedModel(["bob's answer", "alice's answer"])
    agent = make_agent(store, model)
    bob = {"thread": "t-bob", "resource": "bob"}
    alice = {"thread": "t-alice", "resource": "alice"}
    agent.generate(ask("bob's question", "shared-id"), memory=bob)

    with pytest.raises(storage.MessageIdConflictError) as refused:
        agent.generate(ask("alice's question", "shared-id"), memory=alice)

    assert "t-bob" not in str(refused.value) and "bob" not in str(refused.value)
    assert roles_and_texts(store, "t-bob") == [("user", "bob's question"),
                                               ("assistant", "bob's answer")]
    assert roles_and_texts(store, "t-alice") == []
    # The failed run is recorded; Alice's retry is refused again (fast: no model call).
    calls = len(model.requests)
    with pytest.raises(storage.MessageIdConflictError):
        agent.generate(ask("alice's question", "shared-id"), memory=alice)
    assert len(model.requests) == calls
    assert store.memory.get_messages(["shared-id"])[0].thread_id == "t-bob"


def test_without_recorded_runs_the_lookup_refuses_a_foreign_id_before_the_model(
        store: Any) -> None:
    model = ScriptedModel(["bob's answer"])
    memory_only = storage.CompositeStore(memory=store)
    agent = make_agent(memory_only, model)
    agent.generate(ask("bob's question", "shared-id"), memory={"thread": "t-b", "resource": "b"})
    with pytest.raises(storage.MessageIdConflictError):
        agent.generate(ask("mine", "shared-id"), memory={"thread": "t-a", "resource": "a"})
    assert len(model.requests) == 1


def test_a_bad_message_id_is_refused_before_anything_is_stored(store: Any) -> None:
    model = ScriptedModel(["never"])
    agent = make_agent(store, model)
    with pytest.raises(storage.ValidationError, match="message id"):
        agent.generate(ask("hello", "x" * 600), memory=THREAD)
    assert store.memory.get_thread("t-1") is None and model.requests == []


def test_a_stored_turn_is_found_by_the_messages_it_holds(store: Any) -> None:
    """The replay returns the turn as stored: the caller's messages, then the answer."""
    model = ScriptedModel(["answer"])
    agent = make_agent(store, model)
    history = [{"role": "user", "content": "earlier"}, {"role": "user", "content": "now",
                                                          "id": "q-2"}]
    first = agent.generate(history, memory=THREAD)
    again = agent.generate(history, memory=THREAD)
    assert [m.id for m in again.messages] == [m.id for m in first.messages]
    assert isinstance(again.messages[0], Message) and len(again.messages) == 3
    assert len(model.requests) == 1


# --- a caller's run id (Mastra Studio names its runs) ---------------------------------------


def test_a_retry_with_the_callers_run_id_replays_and_another_turn_cannot_reuse_it(
        store: Any) -> None:
    model = ScriptedModel(["first", "second"])
    agent = make_agent(store, model)
    first = agent.generate(ask("hello"), memory=THREAD, run_id="studio-run-1")
    assert first.run_id == "studio-run-1"

    again = agent.generate(ask("hello"), memory=THREAD, run_id="studio-run-1")
    assert (again.replayed, again.text, len(model.requests)) == (True, "first", 1)
    # The run id is the record of that turn: another turn may not take it over.
    with pytest.raises(storage.ConflictError, match="already used"):
        agent.generate(ask("other", "q-2"), memory=THREAD, run_id="studio-run-1")
    with pytest.raises(storage.ConflictError, match="already used"):
        agent.generate("no id", memory=THREAD, run_id="studio-run-1")
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "first")]


def test_a_retry_under_a_new_run_id_overwrites_instead_of_appending(store: Any) -> None:
    model = ScriptedModel(["first", "second"])
    agent = make_agent(store, model)
    agent.generate(ask("hello"), memory=THREAD, run_id="studio-run-1")
    again = agent.generate(ask("hello"), memory=THREAD, run_id="studio-run-2")
    # Not found under its new run id, the turn runs again; its ids are the same.
    assert (again.replayed, again.text) == (False, "second")
    assert roles_and_texts(store) == [("user", "hello"), ("assistant", "second")]
