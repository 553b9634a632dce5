"""DynamoDB vectors under moto: requests, races and fallbacks only this backend has.

The vector is the attribute ``vec`` of the message item; writes are transactions of
conditional ``UpdateItem`` actions, so what another writer does between our read and
our write (a message deleted, the index bound by another process) shows up as a
cancelled transaction, which these tests provoke on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (installs the SearchVectors fake)
from storage.dynamodb.codec import s, sort_key
from storage.dynamodb.driver import TransactionCanceled
from storage.dynamodb.store import DynamoDBStore
from storage.dynamodb.vectors import vector_bytes
from storage.errors import ConflictError, ItemTooLargeError, UnavailableError, ValidationError
from storage.records import Message, MessageVector, Thread
from tests.storage.conformance.helpers import at, content
from tests.storage.dynamodb_support import RequestLog, moto_dynamodb

DIMS = 4


@pytest.fixture
def dyn() -> Iterator[tuple[Any, RequestLog]]:
    with moto_dynamodb(vector_dimensions=DIMS) as opened:
        yield opened


def _thread(store: Any, count: int, thread: str = "t-1", resource: str = "u-1") -> list[Message]:
    store.memory.save_thread(Thread(id=thread, resource_id=resource))
    return store.memory.save_messages([
        Message(id=f"{thread}-m{i}", thread_id=thread, role="user",
                content=content(f"text {i}"), created_at=at(i))
        for i in range(count)
    ])


def _vectors(messages: list[Message], embedder: str = "e") -> list[MessageVector]:
    return [
        MessageVector(message_id=m.id, thread_id=m.thread_id, resource_id=m.resource_id or "",
                      created_at=m.created_at, vector=(1.0, float(i), 0.5, -1.0),
                      embedder=embedder)
        for i, m in enumerate(messages)
    ]


def _item(store: Any, message: Message) -> dict[str, Any] | None:
    key = {"pk": s(f"THREAD#{message.thread_id}"),
           "sk": s("MSG#" + sort_key(message.created_at, message.id))}
    found: dict[str, Any] | None = store.dynamo.get(store.vectors.table, key)
    return found


def _found(store: Any, resource: str = "u-1") -> list[str]:
    matches = store.vectors.search((1.0, 1.0, 0.5, -1.0), embedder="e", resource_id=resource,
                                   top_k=100)
    return sorted(m.message_id for m in matches)


def _after_first(client: Any, operation: str, action: Any) -> None:
    """Run ``action`` once, just before the client's first ``operation`` request."""
    fired: list[bool] = []

    def hook(**_: Any) -> None:
        if not fired:
            fired.append(True)
            action()

    client.meta.events.register(f"before-call.dynamodb.{operation}", hook)


# --- request counts -------------------------------------------------------------------


def test_a_turns_vectors_cost_one_transaction_and_a_search_one_request(dyn: Any) -> None:
    store, log = dyn
    turn = _thread(store, 2)
    log.reset()

    store.vectors.upsert(_vectors(turn))
    # The binding is read once per process (and put in the same transaction); one Query
    # reads the thread's newest messages for their neighbour lists.
    assert log.calls == {
        "dynamodb.GetItem": 1, "dynamodb.Query": 1, "dynamodb.TransactWriteItems": 1,
    }

    log.reset()
    assert _found(store) == ["t-1-m0", "t-1-m1"]
    assert log.calls == {"dynamodb.SearchVectors": 1}

    log.reset()
    more = store.memory.save_messages([
        Message(id=f"t-1-n{i}", thread_id="t-1", role="user", content=content(f"n {i}"),
                created_at=at(100 + i)) for i in range(150)
    ])
    log.reset()
    store.vectors.upsert(_vectors(more))
    # 150 vectors with their lists, the list of the message before them, the thread's
    # certificate: two transactions (the first closed by a check of the thread's sv);
    # the thread read in two pages (12 items, then the rest).
    assert log.calls == {"dynamodb.Query": 2, "dynamodb.TransactWriteItems": 2}


def test_a_vector_makes_the_message_item_bigger_by_about_8_bytes_a_dimension() -> None:
    assert vector_bytes(1024) <= 3 + 8 * 1024 + 3
    assert vector_bytes(4) < vector_bytes(5)


def test_the_item_size_check_uses_the_stores_offload_threshold() -> None:
    # A message item may grow up to the offload threshold before its big attributes
    # move to S3; the vector comes on top, and the sum must stay under 400 KB.
    with moto_dynamodb(vector_dimensions=4096, offload_threshold=395_000) as (store, _):
        (message,) = _thread(store, 1)
        record = MessageVector(message_id=message.id, thread_id="t-1", resource_id="u-1",
                               created_at=message.created_at, vector=(1.0,) * 4096,
                               embedder="e")
        with pytest.raises(ItemTooLargeError, match="offload_threshold"):
            store.vectors.upsert([record])
        assert store.vectors.index() is None


# --- what other writers do meanwhile --------------------------------------------------


def test_removing_falls_back_to_one_update_per_item_when_one_went_meanwhile(dyn: Any) -> None:
    store, log = dyn
    messages = _thread(store, 4)
    store.vectors.upsert(_vectors(messages))
    gone = messages[1]
    # Another writer deletes a message between our locator read and our transaction.
    other = DynamoDBStore(store.prefix, region="us-east-1", vector_dimensions=DIMS)
    _after_first(store.dynamo.client, "TransactWriteItems",
                 lambda: other.memory.delete_messages([gone.id]))
    log.reset()

    store.vectors.delete([m.id for m in messages])

    # The batch was cancelled (that item's condition failed), then one update per item.
    assert log.calls["dynamodb.TransactWriteItems"] == 1 + len(messages)
    assert _found(store) == []
    assert _item(store, gone) is None  # the REMOVE did not recreate the deleted item
    for message in messages:
        if message is not gone:
            item = _item(store, message)
            assert item is not None and "vec" not in item
    assert [m.id for m in store.memory.get_messages([m.id for m in messages])] == [
        m.id for m in messages if m is not gone
    ]


def test_an_upsert_skips_a_message_deleted_during_it_and_stores_the_rest(dyn: Any) -> None:
    store, log = dyn
    messages = _thread(store, 3)
    other = DynamoDBStore(store.prefix, region="us-east-1", vector_dimensions=DIMS)
    _after_first(store.dynamo.client, "TransactWriteItems",
                 lambda: other.memory.delete_messages([messages[0].id]))
    log.reset()

    store.vectors.upsert(_vectors(messages))

    assert log.calls["dynamodb.TransactWriteItems"] == 2  # cancelled, then the rest
    assert _found(store) == ["t-1-m1", "t-1-m2"]
    assert _item(store, messages[0]) is None
    assert store.vectors.index() == ("e", DIMS)


@pytest.mark.parametrize("embedder", ["e", "other"])
def test_two_processes_binding_the_index_at_once(dyn: Any, embedder: str) -> None:
    # Both read "unbound"; the other process's transaction lands first. Ours is
    # cancelled by the binding's attribute_not_exists: it re-reads the binding, and goes
    # on only if it is the same (embedder, dimensions).
    store, _ = dyn
    ours = _thread(store, 2)
    theirs = _thread(store, 1, thread="t-2")
    other = DynamoDBStore(store.prefix, region="us-east-1", vector_dimensions=DIMS)
    assert store.vectors.index() is None
    _after_first(store.dynamo.client, "TransactWriteItems",
                 lambda: other.vectors.upsert(_vectors(theirs)))

    if embedder == "e":
        store.vectors.upsert(_vectors(ours, embedder))
        assert _found(store) == ["t-1-m0", "t-1-m1", "t-2-m0"]
    else:
        with pytest.raises(ValidationError, match="embedder"):
            store.vectors.upsert(_vectors(ours, embedder))
        assert _found(store) == ["t-2-m0"]  # nothing of ours was stored
    assert store.vectors.index() == other.vectors.index() == ("e", DIMS)


def test_a_write_that_keeps_conflicting_gives_up_with_a_conflict_error(
    dyn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = dyn
    messages = _thread(store, 2)
    attempts: list[int] = []

    def conflicting(actions: list[Any]) -> None:
        attempts.append(len(actions))
        raise TransactionCanceled("busy", ["TransactionConflict"] * len(actions))

    monkeypatch.setattr(store.vectors.dynamo, "transact", conflicting)
    with pytest.raises(ConflictError, match="kept changing"):
        store.vectors.upsert(_vectors(messages))
    assert len(attempts) == 5
    monkeypatch.undo()
    assert store.vectors.index() is None and _found(store) == []


# --- the index itself -----------------------------------------------------------------


def test_dimensions_are_read_from_the_table_when_not_given(dyn: Any) -> None:
    store, _ = dyn
    messages = _thread(store, 1)
    plain = DynamoDBStore(store.prefix, region="us-east-1")  # no vector_dimensions
    log = RequestLog()
    log.attach(plain.dynamo.client)

    plain.vectors.upsert(_vectors(messages))
    plain.vectors.search((1.0, 0.0, 0.0, 0.0), embedder="e", resource_id="u-1")
    with pytest.raises(ValidationError, match="4-dimension"):
        plain.vectors.search((1.0, 0.0), embedder="e", resource_id="u-1")

    assert log.calls["dynamodb.DescribeTable"] == 1  # once, then remembered


def test_a_table_without_the_index_names_the_setting_that_adds_it() -> None:
    with moto_dynamodb() as (store, _):
        (message,) = _thread(store, 1)
        with pytest.raises(UnavailableError, match="vectorDimensions"):
            store.vectors.upsert(_vectors([message]))
        with pytest.raises(UnavailableError, match="vector_dimensions"):
            store.vectors.search((1.0, 0.0, 0.0, 0.0), embedder="e", resource_id="u-1")


@pytest.mark.parametrize("dims", ["0", "4097", "-3", "many"])
def test_bad_vector_dimensions_in_the_url_are_refused(dims: str) -> None:
    import storage

    with pytest.raises(ValidationError):
        storage.open(f"dynamodb://p?region=us-east-1&vector_dimensions={dims}")
