"""DynamoDB: re-saving a message never silently drops its vector (issue 13).

A message's vector and neighbour lists are attributes of its item. A re-save or an
update of a message where it is (same thread, same time) rewrites the item in place:
the vector and the lists stay while the text the vector describes is unchanged (the
locator records a hash of it), and go when the text changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (installs the SearchVectors fake)
from storage.dynamodb.codec import s, sort_key
from storage.dynamodb.keys import locator_key
from storage.records import Include, Message, MessageUpdate, MessageVector, Thread
from tests.storage.conformance.helpers import at, content
from tests.storage.dynamodb_support import RequestLog, moto_dynamodb

DIMS = 4


@pytest.fixture
def dyn() -> Iterator[tuple[Any, RequestLog]]:
    with moto_dynamodb(vector_dimensions=DIMS) as opened:
        yield opened


def _vector(i: int) -> tuple[float, ...]:
    return tuple(float(i == j) + 0.05 for j in range(DIMS))


def _saved(store: Any, count: int = 6) -> list[Message]:
    store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    saved: list[Message] = store.memory.save_messages([
        Message(id=f"m-{i}", thread_id="t-1", role="user", content=content(f"text {i}"),
                created_at=at(i)) for i in range(count)])
    store.vectors.upsert([
        MessageVector(message_id=m.id, thread_id="t-1", resource_id="u-1",
                      created_at=m.created_at, vector=_vector(i % DIMS), embedder="e")
        for i, m in enumerate(saved)])
    return saved


def _item(store: Any, message: Message) -> dict[str, Any]:
    key = {"pk": s("THREAD#t-1"), "sk": s("MSG#" + sort_key(message.created_at, message.id))}
    found: dict[str, Any] | None = store.dynamo.get(store.vectors.table, key)
    assert found is not None
    return found


def _nearest(store: Any, i: int) -> str:
    return str(store.vectors.search(list(_vector(i)), embedder="e", resource_id="u-1",
                                    top_k=1)[0].message_id)


def test_an_unchanged_resave_keeps_the_vector_and_the_lists(dyn: Any) -> None:
    store, log = dyn
    saved = _saved(store)
    before = {m.id: _item(store, m) for m in saved}
    assert all("vec" in i and "nbp" in i and "nbn" in i for i in before.values())
    again = store.memory.save_messages(saved)  # a replay of the same messages
    assert [m.id for m in again] == [m.id for m in saved]
    after = {m.id: _item(store, m) for m in saved}
    assert after == before  # the whole item, vector and lists included
    assert _nearest(store, 2) == "m-2"
    log.reset()
    windows = store.memory.get_windows(
        [Include("m-3", with_previous=2, with_next=2)],
        resource_id="u-1")
    assert [m.id for m in windows] == ["m-1", "m-2", "m-3", "m-4", "m-5"]
    assert "dynamodb.Query" not in log.calls  # the lists were still trusted


def test_a_metadata_update_keeps_the_vector(dyn: Any) -> None:
    store, _ = dyn
    saved = _saved(store)
    (updated,) = store.memory.update_messages(
        [MessageUpdate(id="m-2", metadata={"pinned": True})])
    assert updated.content["metadata"] == {"pinned": True}
    assert "vec" in _item(store, saved[2]) and _nearest(store, 2) == "m-2"


@pytest.mark.parametrize("how", ["save", "update"])
def test_a_changed_text_drops_the_vector_and_its_lists(
        dyn: Any, how: str) -> None:
    store, _ = dyn
    saved = _saved(store)
    if how == "save":
        store.memory.save_messages([Message(
            id="m-2", thread_id="t-1", role="user", content=content("new words"),
            created_at=saved[2].created_at)])
    else:
        store.memory.update_messages([MessageUpdate(id="m-2", content=content("new words"))])
    item = _item(store, saved[2])
    assert "vec" not in item  # the old vector described the old text
    assert "nbp" not in item and "nbn" not in item  # kept exact only beside a vector
    assert store.memory.get_messages(["m-2"])[0].content == content("new words")
    assert _nearest(store, 2) != "m-2"
    # The other messages keep theirs.
    assert all("vec" in _item(store, m) for m in saved if m.id != "m-2")


def test_a_locator_without_a_hash_is_treated_as_changed(dyn: Any) -> None:
    store, _ = dyn
    saved = _saved(store)
    # A locator written before locators held the hash.
    store.dynamo.call("UpdateItem", TableName=store.vectors.table, Key=locator_key("m-1"),
                      UpdateExpression="REMOVE ch")
    store.memory.save_messages([saved[1]])
    assert "vec" not in _item(store, saved[1])
    store.memory.save_messages([saved[1]])  # the locator has its hash again
    store.vectors.upsert([MessageVector(message_id="m-1", thread_id="t-1", resource_id="u-1",
                                        created_at=saved[1].created_at, vector=_vector(1),
                                        embedder="e")])
    store.memory.save_messages([saved[1]])
    assert "vec" in _item(store, saved[1])


# --- the embed job re-embeds what an edit left without a vector ----------------------


@pytest.fixture
def agent_on_dynamodb() -> Iterator[tuple[Any, Any]]:
    from agents import Agent, App, InlineJobRunner, Memory
    from agents.embedders import HashEmbedder

    with moto_dynamodb(vector_dimensions=64) as (store, log):
        agent = Agent(id="assistant", model="local/echo", memory=Memory(
            last_messages=2, semantic_recall=True, embedder=HashEmbedder(dimensions=64)))
        App(agents=[agent], storage=store, jobs=InlineJobRunner())
        yield agent, log


def _finds(agent: Any, text: str) -> list[str]:
    from agents.embedders import HashEmbedder

    vector = HashEmbedder(dimensions=64).embed([text])[0]
    return [m.message_id for m in agent.storage.vectors.search(
        vector, embedder="local/hash", resource_id="u-1", top_k=1)]


@pytest.mark.parametrize("how", ["update", "save", "unchanged"])
def test_save_embed_resave_and_search_still_finds_it(agent_on_dynamodb: Any, how: str) -> None:
    agent, _ = agent_on_dynamodb
    where = {"thread": "t-1", "resource": "u-1"}
    for text in ("my cat is called Miso", "the weather is rainy", "buy some bread"):
        agent.generate(text, memory=where)
    memory = agent.storage.memory
    first = next(m for m in memory.list_messages("t-1", per_page=None).items
                 if m.role == "user" and "Miso" in str(m.content))
    assert _finds(agent, "my cat is called Miso") == [first.id]
    # The agent stored content.content too; an update merges content, so it sets both.
    new = content("my dog is called Rex", content="my dog is called Rex")
    if how == "update":
        memory.update_messages([MessageUpdate(id=first.id, content=new)])
    elif how == "save":
        memory.save_messages([Message(id=first.id, thread_id="t-1", role="user", content=new,
                                      created_at=first.created_at)])
    else:
        memory.save_messages([first])  # a replay: same text
        assert _finds(agent, "my cat is called Miso") == [first.id]  # found at once
        return
    assert _finds(agent, "my cat is called Miso") != [first.id]  # the old vector is gone
    agent.generate("call the plumber", memory=where)  # the thread's next embed job
    assert _finds(agent, "my dog is called Rex") == [first.id]
    thread = agent.storage.dynamo.get(agent.storage.vectors.table,
                                      {"pk": s("THREAD#t-1"), "sk": s("THREAD")})
    assert "pe" not in thread  # unmarked once embedded


def test_a_marked_message_deleted_before_the_job_is_unmarked(agent_on_dynamodb: Any) -> None:
    agent, _ = agent_on_dynamodb
    where = {"thread": "t-1", "resource": "u-1"}
    agent.generate("my cat is called Miso", memory=where)
    memory = agent.storage.memory
    first = memory.list_messages("t-1", per_page=None).items[0]
    memory.update_messages([MessageUpdate(id=first.id, content=content("edited"))])
    memory.delete_messages([first.id])
    agent.generate("call the plumber", memory=where)
    thread = agent.storage.dynamo.get(agent.storage.vectors.table,
                                      {"pk": s("THREAD#t-1"), "sk": s("THREAD")})
    assert "pe" not in thread
