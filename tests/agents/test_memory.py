"""Memory: the seed's use case, recall windows, what is (not) stored, working memory."""

from __future__ import annotations

from typing import Any

import pytest

from agents import Agent, App, InlineJobRunner, Memory, ThreadOwnershipError
from agents.models import ModelRequest, Reply, ScriptedModel
from storage.errors import ValidationError

THREAD = {"thread": "t-1", "resource": "u-1"}


def _texts(request: ModelRequest) -> list[str]:
    return [m.text for m in request.messages]


def test_two_agents_share_instance_storage_and_one_has_its_own(
    store: Any, other_store: Any
) -> None:
    # Given: two agents on the app's storage, one with its own storage
    shared_a = Agent(id="a", model=ScriptedModel(["from a"]))
    model_b = ScriptedModel(["from b"])
    shared_b = Agent(id="b", model=model_b)
    model_c = ScriptedModel(["from c"])
    isolated = Agent(id="c", model=model_c, memory=Memory(storage=other_store))
    app = App(agents=[shared_a, shared_b, isolated], storage=store, jobs=InlineJobRunner())

    # When: a and b talk in the same thread, c uses the same thread id
    app.get_agent("a").generate("hello a", memory=THREAD)
    app.get_agent("b").generate("hello b", memory=THREAD)
    app.get_agent("c").generate("hello c", memory=THREAD)

    # Then: b recalled a's turn; c saw nothing of it and wrote only to its own store
    assert _texts(model_b.requests[0]) == ["hello a", "from a", "hello b"]
    assert _texts(model_c.requests[0]) == ["hello c"]
    shared = store.memory.list_messages("t-1", per_page=None).items
    assert [m.text for m in shared] == ["hello a", "from a", "hello b", "from b"]
    own = other_store.memory.list_messages("t-1", per_page=None).items
    assert [m.text for m in own] == ["hello c", "from c"]
    assert all(m.resource_id == "u-1" for m in [*shared, *own])


def test_recall_window_is_the_last_n_in_chronological_order(store: Any) -> None:
    model = ScriptedModel([lambda req: f"answer {len(req.messages)}"])
    agent = Agent(id="a", model=model, memory=Memory(last_messages=4))
    App(agents=[agent], storage=store, jobs=InlineJobRunner())

    for n in range(5):
        agent.generate(f"question {n}", memory=THREAD)

    last = model.requests[-1]
    stored = store.memory.list_messages("t-1", per_page=None).items
    assert len(stored) == 10
    assert _texts(last) == [*(m.text for m in stored[4:8]), "question 4"]
    assert [m.role for m in last.messages] == ["user", "assistant", "user", "assistant", "user"]


def test_last_messages_zero_recalls_nothing_but_saves(store: Any) -> None:
    model = ScriptedModel(["ok"])
    agent = Agent(id="a", model=model, memory=Memory(last_messages=False))
    App(agents=[agent], storage=store)
    agent.generate("one", memory=THREAD)
    agent.generate("two", memory=THREAD)
    assert _texts(model.requests[1]) == ["two"]
    assert store.memory.list_messages("t-1").total == 4


@pytest.mark.parametrize("memory", [None, {"thread": "t-1"}, {"resource": "u-1"}, {}])
def test_nothing_stored_or_recalled_without_thread_and_resource(
    store: Any, memory: dict[str, str] | None
) -> None:
    model = ScriptedModel(["ok"])
    agent = Agent(id="a", model=model)
    App(agents=[agent], storage=store)

    first = agent.generate("one", memory=memory)
    agent.generate("two", memory=memory)

    assert store.memory.list_threads().total == 0
    assert store.memory.get_thread("t-1") is None
    assert _texts(model.requests[1]) == ["two"]
    assert first.thread_id is None
    assert [m.text for m in first.messages] == ["one", "ok"]


def test_result_messages_are_the_saved_turn(store: Any) -> None:
    agent = Agent(id="a", model=ScriptedModel(["hi!"]))
    App(agents=[agent], storage=store)

    result = agent.generate("hey", memory=THREAD)

    stored = store.memory.list_messages("t-1").items
    assert result.messages == stored
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[0].created_at < stored[1].created_at
    assert stored[1].content["format"] == 2
    assert stored[1].content["parts"] == [{"type": "step-start"}, {"type": "text", "text": "hi!"}]
    assert result.thread_id == "t-1" and result.resource_id == "u-1"


def test_a_turn_is_saved_in_one_call(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def weather(city: str) -> str:
        """Weather."""
        return "sunny"

    calls: list[list[str]] = []
    original = store.memory.save_messages

    def spy(messages: Any, **options: Any) -> Any:
        # The caller's ids never move a message of another thread.
        assert options == {"allow_move": False}
        calls.append([m.role for m in messages])
        return original(messages, **options)

    monkeypatch.setattr(store.memory, "save_messages", spy)
    agent = Agent(id="a", tools=[weather],
                  model=ScriptedModel([Reply(tool_calls=[("weather", {"city": "x"})]), "sunny"]))
    App(agents=[agent], storage=store)

    agent.generate("weather?", memory=THREAD)

    assert calls == [["user", "assistant"]]
    saved = store.memory.list_messages("t-1").items[-1]
    invocation = next(p for p in saved.content["parts"] if p["type"] == "tool-invocation")
    assert invocation["toolInvocation"]["result"] == "sunny"
    assert invocation["toolInvocation"]["state"] == "result"


def test_recalled_tool_calls_reach_the_model_as_calls_and_results(store: Any) -> None:
    def weather(city: str) -> str:
        """Weather."""
        return "sunny"

    model = ScriptedModel([Reply(tool_calls=[("weather", {"city": "x"})]), "It is sunny.",
                           "You asked about x."])
    agent = Agent(id="a", model=model, tools=[weather])
    App(agents=[agent], storage=store)

    agent.generate("weather?", memory=THREAD)
    agent.generate("what did I ask?", memory=THREAD)

    roles = [m.role for m in model.requests[-1].messages]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]


def test_thread_given_as_dict_is_created_with_title_and_metadata(store: Any) -> None:
    agent = Agent(id="a")
    App(agents=[agent], storage=store)
    agent.generate("x", memory={"thread": {"id": "t-9", "title": "Trip", "metadata": {"k": 1}},
                                "resource": "u-1"})
    thread = store.memory.get_thread("t-9")
    assert thread.resource_id == "u-1" and thread.title == "Trip" and thread.metadata == {"k": 1}


def test_thread_of_another_resource_is_refused(store: Any) -> None:
    agent = Agent(id="a")
    App(agents=[agent], storage=store)
    agent.generate("mine", memory=THREAD)

    with pytest.raises(ThreadOwnershipError):
        agent.generate("intruder", memory={"thread": "t-1", "resource": "u-2"})
    with pytest.raises(ThreadOwnershipError):
        agent.stream("intruder", memory={"thread": "t-1", "resource": "u-2"})

    assert [m.text for m in store.memory.list_messages("t-1").items] == ["mine", "Echo: mine"]


@pytest.mark.parametrize("memory", [{"thread": "", "resource": "u"},
                                    {"thread": {"title": "no id"}, "resource": "u"},
                                    {"thread": "t", "resource": 5}])
def test_malformed_memory_argument(store: Any, memory: dict[str, Any]) -> None:
    agent = Agent(id="a")
    App(agents=[agent], storage=store)
    with pytest.raises(ValidationError):
        agent.generate("x", memory=memory)


def test_stream_saves_the_turn_too(store: Any) -> None:
    agent = Agent(id="a")
    App(agents=[agent], storage=store)
    stream = agent.stream("streamed", memory=THREAD)
    assert stream.thread_id == "t-1"
    assert store.memory.list_messages("t-1").total == 0  # nothing before it runs
    events = list(stream)
    assert events[-1].type == "finish"
    assert [m.text for m in store.memory.list_messages("t-1").items] == [
        "streamed", "Echo: streamed"]


def test_failed_run_saves_nothing(store: Any) -> None:
    agent = Agent(id="a", model=ScriptedModel([RuntimeError("model down")]))
    App(agents=[agent], storage=store)
    with pytest.raises(RuntimeError):
        agent.generate("x", memory=THREAD)
    assert store.memory.list_messages("t-1").total == 0


def test_working_memory_in_prompt_and_updated_by_tool(store: Any) -> None:
    template = "# Profile\n- Name:\n- City:\n"
    updated = "# Profile\n- Name: Ann\n- City: Oslo\n"
    model = ScriptedModel([
        Reply(tool_calls=[("updateWorkingMemory", {"memory": updated})]),
        "Nice to meet you, Ann.",
        "Hi again Ann.",
    ])
    agent = Agent(id="a", model=model, memory=Memory(working_memory=template))
    App(agents=[agent], storage=store)

    agent.generate("I'm Ann from Oslo", memory=THREAD)
    agent.generate("hello", memory={"thread": "t-2", "resource": "u-1"})

    first, _, third = model.requests
    assert template in (first.system or "")
    assert "updateWorkingMemory" in {t.name for t in first.tools}
    assert store.memory.get_resource("u-1").working_memory == updated
    assert updated in (third.system or "")  # resource scope: another thread sees it


def test_working_memory_off_without_thread(store: Any) -> None:
    model = ScriptedModel(["ok"])
    agent = Agent(id="a", model=model, memory=Memory(working_memory=True))
    App(agents=[agent], storage=store)
    agent.generate("x")
    assert model.requests[0].tools == ()
    assert "working_memory" not in (model.requests[0].system or "")


def test_agent_without_storage_still_answers() -> None:
    agent = Agent(id="a")
    App(agents=[agent])
    assert agent.generate("x", memory=THREAD).thread_id is None


def test_per_call_last_messages_option(store: Any) -> None:
    model = ScriptedModel(["ok"])
    agent = Agent(id="a", model=model)
    App(agents=[agent], storage=store)
    for n in range(3):
        agent.generate(f"q{n}", memory=THREAD)
    agent.generate("last", memory={**THREAD, "options": {"lastMessages": 2}})
    agent.generate("none", memory={"threadId": "t-1", "resourceId": "u-1",
                                   "options": {"lastMessages": False}})
    assert _texts(model.requests[3]) == ["q2", "ok", "last"]
    assert _texts(model.requests[4]) == ["none"]
    with pytest.raises(ValidationError):
        agent.generate("x", memory={**THREAD, "options": {"lastMessages": -1}})


def test_refused_input_creates_no_thread(store: Any) -> None:
    agent = Agent(id="a")
    App(agents=[agent], storage=store)
    with pytest.raises(ValidationError):
        agent.generate("bad \x00", memory=THREAD)
    with pytest.raises(ValidationError):
        agent.generate("fine", memory=THREAD, max_steps=0)
    assert store.memory.get_thread("t-1") is None


def test_no_upload_into_a_thread_of_another_resource(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = Agent(id="a")
    App(agents=[agent], storage=store)
    agent.generate("mine", memory=THREAD)
    puts: list[str] = []
    monkeypatch.setattr(store.blobs, "put", lambda key, *a, **k: puts.append(key))
    msg = {"role": "user", "content": "x",
           "experimental_attachments": [{"url": "data:text/plain;base64,aGk=", "name": "a"}]}

    with pytest.raises(ThreadOwnershipError):
        agent.generate([msg], memory={"thread": "t-1", "resource": "u-2"})

    assert puts == []
