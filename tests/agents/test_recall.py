"""Semantic recall in a turn: settings, what reaches the prompt, the embedding lifecycle.

These run on the ``memory://`` reference with the deterministic hashing embedder
(``local/hash``: texts sharing words are near), so each property is exact and fast;
``test_recall_agent.py`` and ``test_recall_quality.py`` use the real local model.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from agents import Agent, App, InlineJobRunner, Memory
from agents.embedders import EmbedderError, HashEmbedder
from agents.models import ChatMessage, ScriptedModel
from agents.recall import find, remembered_block
from agents.recall_settings import SemanticRecall
from storage.errors import ValidationError
from storage.records import Message, MessageUpdate, MessageVector, Thread
from tests.embedding import CountingEmbedder

U1 = {"thread": "t-1", "resource": "u-1"}


def _texts(messages: tuple[ChatMessage, ...]) -> list[str]:
    return [getattr(p, "text", "") for m in messages for p in m.parts]


class _Setup:
    def __init__(self, store: Any, *, semantic_recall: Any = True, last_messages: int = 2,
                 embedder: Any = None) -> None:
        self.store = store
        self.embedder = CountingEmbedder(embedder or HashEmbedder(dimensions=256))
        self.model = ScriptedModel(["noted"])
        self.agent = Agent(id="a", model=self.model, memory=Memory(
            last_messages=last_messages, semantic_recall=semantic_recall,
            embedder=self.embedder))
        self.jobs = InlineJobRunner()
        self.app = App(agents=[self.agent], storage=store, jobs=self.jobs)

    def say(self, text: str, memory: dict[str, Any] = U1, **kwargs: Any) -> Any:
        return self.agent.generate(text, memory=memory, **kwargs)

    @property
    def prompt(self) -> list[str]:
        return _texts(self.model.requests[-1].messages)

    @property
    def system(self) -> str:
        return self.model.requests[-1].system or ""


FILLER = ["the weather is rainy today", "I play tennis on sundays", "please buy milk tomorrow",
          "my phone battery died", "we painted the fence green", "the train was late again"]


# --- settings -----------------------------------------------------------------------


def test_mastra_defaults_and_described_config() -> None:
    memory = Memory(semantic_recall=True, embedder=HashEmbedder())

    assert memory.semantic_recall == SemanticRecall(top_k=4, before=1, after=1,
                                                    scope="resource", threshold=None)
    assert memory.config()["semanticRecall"] == {
        "topK": 4, "messageRange": {"before": 1, "after": 1}, "scope": "resource"}
    assert memory.describe()["embedder"] == "local/hash"
    assert Memory().config()["semanticRecall"] is False
    custom = Memory(semantic_recall={"topK": 3, "messageRange": 2, "scope": "thread",
                                     "threshold": 0.5}, embedder="local/hash")
    assert custom.semantic_recall == SemanticRecall(3, 2, 2, "thread", 0.5)


@pytest.mark.parametrize("bad", [
    {"topK": 0}, {"topK": 101}, {"topK": "4"}, {"topK": True}, {"scope": "everything"},
    {"threshold": 1.5}, {"threshold": -2}, {"threshold": float("nan")},
    {"messageRange": -1}, {"messageRange": {"before": 1, "around": 2}}, {"messageRange": 51},
    {"lastMessagez": 1}, "on", 1,
])
def test_bad_settings_are_a_validation_error_naming_the_field(bad: Any) -> None:
    with pytest.raises(ValidationError):
        Memory(semantic_recall=bad, embedder=HashEmbedder())


@pytest.mark.parametrize("bad", [{"topK": 0}, {"scope": "world"}, {"threshold": 7}, "yes"])
def test_a_bad_per_call_override_stores_nothing(store: Any, bad: Any) -> None:
    setup = _Setup(store)

    with pytest.raises(ValidationError, match="semanticRecall"):
        setup.say("hello", memory={**U1, "options": {"semanticRecall": bad}})

    assert store.memory.get_thread("t-1") is None
    assert store.vectors.index() is None
    assert setup.embedder.calls == 0


def test_an_embedder_that_differs_from_the_index_is_refused_before_anything_is_stored(
        store: Any) -> None:
    _Setup(store).say("my cat is called Miso")  # binds the index to local/hash, 256
    other = _Setup(store, embedder=HashEmbedder(dimensions=64))

    with pytest.raises(ValidationError):
        other.say("what is my cat called", memory={"thread": "t-new", "resource": "u-1"})

    assert store.memory.get_thread("t-new") is None
    assert store.vectors.index() == ("local/hash", 256)
    assert len(store.memory.list_messages("t-1", per_page=None).items) == 2


def test_semantic_recall_needs_an_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    import agents.memory

    monkeypatch.setattr(agents.memory, "default_embedder", lambda: None)
    with pytest.raises(ValueError, match="embedder"):
        Memory(semantic_recall=True)


# --- what reaches the prompt --------------------------------------------------------


def test_an_old_message_of_the_thread_joins_the_history_in_order(store: Any) -> None:
    setup = _Setup(store, last_messages=2)
    setup.say("my cat is called Miso")
    for text in FILLER:
        setup.say(text)

    setup.say("what is the name of my cat")

    prompt = setup.prompt
    assert prompt[:2] == ["my cat is called Miso", "noted"]  # the match and the next one
    assert prompt[-3:] == ["the train was late again", "noted", "what is the name of my cat"]
    assert prompt.count("the train was late again") == 1  # deduplicated against the window
    assert "remembered_from_other_conversation" not in setup.system


def test_other_threads_are_remembered_in_the_system_prompt(store: Any) -> None:
    setup = _Setup(store, semantic_recall={"topK": 1, "messageRange": 0})
    setup.say("my cat is called Miso", memory={"thread": "t-old", "resource": "u-1"})
    setup.say("the sailing club meets on fridays",
              memory={"thread": "t-stranger", "resource": "u-2"})

    setup.say("what is my cat called", memory={"thread": "t-new", "resource": "u-1"})

    assert setup.prompt == ["what is my cat called"]
    assert "<remembered_from_other_conversation>" in setup.system
    assert "User: my cat is called Miso" in setup.system
    assert "sailing" not in setup.system


def test_another_resource_is_never_recalled(store: Any) -> None:
    setup = _Setup(store, semantic_recall={"topK": 10, "messageRange": 3}, last_messages=0)
    setup.say("my secret code is 4471", memory={"thread": "theirs", "resource": "u-2"})
    setup.say("my cat is called Miso")

    setup.say("what is my secret code", memory={"thread": "mine", "resource": "u-1"})

    everything = " ".join(setup.prompt) + setup.system
    assert "4471" not in everything
    assert "Miso" in everything


def test_scope_thread_stays_in_the_thread(store: Any) -> None:
    setup = _Setup(store, semantic_recall={"scope": "thread", "messageRange": 0},
                   last_messages=0)
    setup.say("my cat is called Miso", memory={"thread": "t-a", "resource": "u-1"})
    setup.say("my dog is called Rex", memory={"thread": "t-b", "resource": "u-1"})

    setup.say("what are my pets called", memory={"thread": "t-b", "resource": "u-1"})

    assert "my dog is called Rex" in setup.prompt
    assert "Miso" not in " ".join(setup.prompt) + setup.system


def test_threshold_drops_weak_matches(store: Any) -> None:
    setup = _Setup(store, semantic_recall={"threshold": 0.9, "messageRange": 0},
                   last_messages=0)
    setup.say("my cat is called Miso")

    setup.say("is it raining")

    assert setup.prompt == ["is it raining"]


def test_per_call_options_override_the_agent(store: Any) -> None:
    setup = _Setup(store, semantic_recall=False, last_messages=0)
    setup.say("my cat is called Miso")
    assert setup.embedder.calls == 0 and store.vectors.index() is None  # off: not embedded

    on = {**U1, "options": {"semanticRecall": {"topK": 1, "messageRange": 0}}}
    setup.say("my dog is called Rex", memory=on)
    setup.say("what is my dog called", memory=on)
    assert setup.prompt == ["my dog is called Rex", "what is my dog called"]

    setup.say("what is my dog called", memory={**U1, "options": {"semanticRecall": False}})
    assert setup.prompt == ["what is my dog called"]


def test_find_returns_each_match_with_its_window_sorted(store: Any) -> None:
    """The issue's shape: 3 threads of 50 messages; the nearest is thread 2 message 17."""
    embedder = HashEmbedder(dimensions=512)
    for t in (1, 2, 3):
        store.memory.save_thread(Thread(id=f"t{t}", resource_id="u-1"))
        messages = store.memory.save_messages([
            Message(id=f"t{t}-m{n:02d}", thread_id=f"t{t}", role="user", resource_id="u-1",
                    content={"format": 2, "parts": [{"type": "text",
                                                     "text": f"note {t}x{n} about topic{t}{n}"}]})
            for n in range(50)])
        store.vectors.upsert([
            MessageVector(m.id, m.thread_id, "u-1", m.created_at,
                          tuple(embedder.embed([m.content["parts"][0]["text"]])[0]), embedder.id)
            for m in messages])
    query = embedder.embed(["topic217 topic217 note 2x17"])[0]

    found, matched = find(store, query, embedder=embedder.id,
                          settings=SemanticRecall(top_k=3, before=2, after=2),
                          resource_id="u-1", thread_id="t1")

    assert matched[0] == "t2-m17"
    ids = [m.id for m in found]
    assert {"t2-m15", "t2-m16", "t2-m17", "t2-m18", "t2-m19"} <= set(ids)
    assert found == sorted(found, key=lambda m: (m.created_at, m.id))
    assert len(ids) == len(set(ids))


def test_remembered_block_follows_mastra_format() -> None:
    from datetime import UTC, datetime

    message = Message(id="m", thread_id="t", role="assistant", resource_id="u",
                      content={"format": 2, "parts": [{"type": "text", "text": "Hi"}]},
                      created_at=datetime(2025, 3, 4, 13, 5, tzinfo=UTC))

    assert remembered_block([message]) == (
        "The following messages were remembered from a different conversation:\n"
        "<remembered_from_other_conversation>\n"
        "the following messages are from 2025, Mar, 4\n"
        "Message from previous conversation at 1:05 PM: Assistant: Hi\n"
        "<end_remembered_from_other_conversation>")


# --- the embedding lifecycle --------------------------------------------------------


def test_each_message_is_embedded_once_and_the_query_is_not_embedded_twice(store: Any) -> None:
    setup = _Setup(store)

    for text in ["my cat is called Miso", *FILLER]:
        setup.say(text)

    turns = 1 + len(FILLER)
    # Per turn: the query (the user message) once, then the answer once, in the job.
    assert setup.embedder.calls == 2 * turns
    assert sorted(setup.embedder.texts) == sorted(
        ["my cat is called Miso", *FILLER] + ["noted"] * turns)
    stored = store.memory.list_messages("t-1", per_page=None).items
    for message in stored:  # every message has its vector: it finds itself first
        vector = HashEmbedder().embed([message.text])[0]
        hits = store.vectors.search(vector, embedder="local/hash", resource_id="u-1",
                                    top_k=100)
        assert message.id in [h.message_id for h in hits]
        assert len(hits) == len(stored)


def test_the_job_payload_is_json_and_a_retried_job_is_harmless(store: Any) -> None:
    setup = _Setup(store)
    setup.say("my cat is called Miso")
    payload = setup.jobs.submitted[-1]
    assert payload["kind"] == "embed" and len(payload["messages"]) == 2
    assert json.loads(json.dumps(payload)) == payload
    before = setup.embedder.calls

    from agents.jobs import run_job

    assert run_job(setup.app, payload) == 2  # upserted again, same vectors
    assert setup.embedder.calls == before + 1  # the answer again; the query came along


def test_editing_a_message_drops_its_vector_and_reembed_restores_it(store: Any) -> None:
    from agents.recall import reembed

    setup = _Setup(store, semantic_recall={"topK": 4, "messageRange": 0}, last_messages=0)
    setup.say("my cat is called Miso")
    first = store.memory.list_messages("t-1", per_page=None).items[0]

    store.memory.update_messages([MessageUpdate(first.id, content={
        "parts": [{"type": "text", "text": "my hamster is called Biscuit"}],
        "content": "my hamster is called Biscuit"})])
    setup.say("what is my hamster called")
    assert "Biscuit" not in " ".join(setup.prompt)  # no vector until it is re-embedded

    reembed(setup.agent, [first.id])
    setup.say("what is my hamster called")
    assert "my hamster is called Biscuit" in setup.prompt


def test_a_deleted_thread_is_never_recalled(store: Any) -> None:
    setup = _Setup(store, last_messages=0)
    setup.say("my cat is called Miso", memory={"thread": "gone", "resource": "u-1"})
    store.memory.delete_thread("gone")

    setup.say("what is my cat called", memory={"thread": "t-2", "resource": "u-1"})

    assert "Miso" not in " ".join(setup.prompt) + setup.system


def test_a_failing_embedder_does_not_fail_the_turn(store: Any,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    class Broken(HashEmbedder):
        def _embed_batch(self, texts: list[str]) -> Any:
            raise EmbedderError("provider down", retryable=True)

    setup = _Setup(store, embedder=Broken())
    with caplog.at_level(logging.WARNING):
        result = setup.say("hello there")

    assert result.text == "noted"
    assert "semantic recall skipped" in caplog.text
    assert len(store.memory.list_messages("t-1", per_page=None).items) == 2
    assert store.vectors.index() is None  # the job failed too, and was logged


def test_a_window_the_history_already_holds_is_not_read_again(
        store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = _Setup(store, semantic_recall={"topK": 1, "messageRange": 1}, last_messages=10)
    setup.say("the weather is rainy today")
    setup.say("my cat is called Miso")
    reads: list[int] = []
    real = store.memory.list_messages

    def spy(thread_id: str, **kwargs: Any) -> Any:
        reads.append(len(kwargs.get("include") or ()))
        return real(thread_id, **kwargs)

    monkeypatch.setattr(store.memory, "list_messages", spy)
    setup.say("what is my cat called")

    assert reads == [0]  # the last-N read only: the match and its neighbours are in it
    assert setup.prompt.count("my cat is called Miso") == 1


def test_backfill_embeds_a_thread_written_before_recall_was_on(store: Any) -> None:
    from agents.recall import backfill

    before = _Setup(store, semantic_recall=False)
    before.say("my cat is called Miso")
    before.say("the weather is rainy today")
    assert store.vectors.index() is None  # recall was off: nothing embedded

    after = _Setup(store, semantic_recall={"topK": 1, "messageRange": 0}, last_messages=0)
    assert backfill(after.agent, "t-1") == 4
    after.say("what is my cat called", memory={"thread": "t-2", "resource": "u-1"})

    assert "User: my cat is called Miso" in after.system
