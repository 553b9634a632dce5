"""The ``vectors`` domain: the same tests on every vector backend.

Vectors are deterministic synthetic ones (seeded Gaussian), so every backend can be
checked against an exact cosine oracle computed here: an approximate index (pgvector
HNSW, DynamoDB's vector index) must not lose what exact search finds on these sets.
The agent side tests recall with real embeddings.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from storage import vector_rules as rules
from storage.errors import ValidationError
from storage.records import Message, MessageUpdate, MessageVector, Thread
from tests.storage.conformance.backends import Backend
from tests.storage.conformance.helpers import at, content
from tests.storage.conformance.vector_backends import DIMENSIONS, vector_backend_params

EMBEDDER = "test/gaussian-16"


@pytest.fixture(params=vector_backend_params())
def vector_backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store(vector_backend: Backend, tmp_path: Path) -> Iterator[Any]:
    with vector_backend.factory(tmp_path) as opened:
        yield opened


# --- builders -------------------------------------------------------------------------


def gaussian(seed: int | str, dims: int = DIMENSIONS) -> list[float]:
    """A deterministic random vector."""
    rng = random.Random(str(seed))
    return [rng.gauss(0.0, 1.0) for _ in range(dims)]


def near(vector: Sequence[float], noise: float, seed: int | str) -> list[float]:
    """``vector`` plus a little deterministic noise."""
    rng = random.Random(f"noise-{seed}")
    return [x + rng.gauss(0.0, noise) for x in vector]


def unit(i: int, dims: int = DIMENSIONS, sign: float = 1.0) -> list[float]:
    """The i-th axis."""
    return [sign if j == i else 0.0 for j in range(dims)]


class Conversation:
    """Threads and messages saved through the memory domain, with their vectors."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.messages: dict[str, Message] = {}
        self.vectors: dict[str, list[float]] = {}
        self._clock = 0

    def thread(self, thread_id: str, resource_id: str) -> str:
        self.store.memory.save_thread(Thread(id=thread_id, resource_id=resource_id))
        return thread_id

    def message(
        self, message_id: str, thread_id: str, vector: Sequence[float] | None = None,
        *, created: float | None = None,
    ) -> Message:
        if created is None:
            self._clock += 1
            created = self._clock
        saved = self.store.memory.save_messages(
            [Message(id=message_id, thread_id=thread_id, role="user",
                     content=content(f"text of {message_id}"), created_at=at(created))]
        )[0]
        self.messages[message_id] = saved
        if vector is not None:
            self.vectors[message_id] = list(vector)
        return saved

    def bulk(self, thread_id: str, vectors: dict[str, list[float]]) -> None:
        """Save many messages of one thread in one call (fast on every backend)."""
        batch = []
        for message_id in vectors:
            self._clock += 1
            batch.append(Message(id=message_id, thread_id=thread_id, role="user",
                                 content=content(f"text of {message_id}"),
                                 created_at=at(self._clock)))
        for saved in self.store.memory.save_messages(batch):
            self.messages[saved.id] = saved
        self.vectors.update(vectors)

    def record(
        self, key: str, vector: Sequence[float] | None = None,
        embedder: str = EMBEDDER, **changes: Any,
    ) -> MessageVector:
        """The vector record of saved message ``key``, with ``changes`` applied."""
        m = self.messages[key]
        record = MessageVector(
            message_id=m.id, thread_id=m.thread_id, resource_id=m.resource_id or "",
            created_at=m.created_at,
            vector=tuple(vector if vector is not None else self.vectors[key]),
            embedder=embedder,
        )
        return replace(record, **changes) if changes else record

    def upsert_all(self, ids: Sequence[str] | None = None) -> None:
        chosen = list(self.vectors) if ids is None else list(ids)
        self.store.vectors.upsert([self.record(i) for i in chosen])

    def oracle(
        self, query: Sequence[float], resource_id: str, thread_id: str | None = None,
        top_k: int = 4, threshold: float | None = None,
    ) -> list[str]:
        """What exact cosine search at float32 precision must return."""
        target = rules.to_float32(query)
        scored = []
        for message_id, vector in self.vectors.items():
            m = self.messages[message_id]
            if m.resource_id != resource_id or (thread_id and m.thread_id != thread_id):
                continue
            score = rules.cosine(target, rules.to_float32(vector))
            if threshold is None or score >= threshold:
                scored.append((-score, m.created_at, message_id))
        return [message_id for _, _, message_id in sorted(scored)[:top_k]]


def ids(matches: Sequence[Any]) -> list[str]:
    return [m.message_id for m in matches]


def search(store: Any, vector: Sequence[float], resource_id: str, **kwargs: Any) -> list[Any]:
    return store.vectors.search(vector, embedder=EMBEDDER, resource_id=resource_id, **kwargs)


@pytest.fixture
def conv(store: Any) -> Conversation:
    return Conversation(store)


# --- upsert and search ----------------------------------------------------------------


def test_search_finds_the_nearest_message_with_its_record(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    for i in range(3):
        conv.message(f"m-{i}", "t-1", gaussian(i))
    conv.upsert_all()

    matches = search(conv.store, near(gaussian(1), 0.05, "q"), "u-1", top_k=3)

    assert ids(matches) == conv.oracle(near(gaussian(1), 0.05, "q"), "u-1", top_k=3)
    best = matches[0]
    assert best.message_id == "m-1"
    assert (best.thread_id, best.resource_id) == ("t-1", "u-1")
    assert best.created_at == conv.messages["m-1"].created_at
    assert best.score > 0.99
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_scores_are_cosine_similarities(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.message("same", "t-1", [2.0 * x for x in unit(0)])  # length does not matter
    conv.message("opposite", "t-1", unit(0, sign=-1.0))
    conv.message("orthogonal", "t-1", unit(1))
    conv.message("diagonal", "t-1", [1.0, 1.0] + [0.0] * (DIMENSIONS - 2))
    conv.upsert_all()

    scores = {m.message_id: m.score for m in search(conv.store, unit(0), "u-1", top_k=10)}

    assert scores["same"] == pytest.approx(1.0, abs=1e-5)
    assert scores["diagonal"] == pytest.approx(1 / math.sqrt(2), abs=1e-5)
    assert scores["orthogonal"] == pytest.approx(0.0, abs=1e-5)
    assert scores["opposite"] == pytest.approx(-1.0, abs=1e-5)
    assert list(scores) == ["same", "diagonal", "orthogonal", "opposite"]


def test_equal_scores_are_ordered_by_created_at_then_id(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    tied = gaussian("tie")
    conv.message("m-late", "t-1", tied, created=30)
    conv.message("m-b", "t-1", tied, created=10)
    conv.message("m-a", "t-1", tied, created=10)
    conv.message("m-early", "t-1", tied, created=5)
    conv.message("m-far", "t-1", gaussian("far"), created=1)
    conv.upsert_all()

    matches = search(conv.store, tied, "u-1", top_k=4)

    assert ids(matches) == ["m-early", "m-a", "m-b", "m-late"]


def test_top_k_limits_and_threshold_drops(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    for i in range(12):
        conv.message(f"m-{i:02}", "t-1", gaussian(i))
    conv.upsert_all()
    query = gaussian(3)

    assert len(search(conv.store, query, "u-1", top_k=1)) == 1
    assert ids(search(conv.store, query, "u-1", top_k=5)) == conv.oracle(query, "u-1", top_k=5)
    everything = search(conv.store, query, "u-1", top_k=100)
    assert sorted(ids(everything)) == sorted(conv.vectors)
    above = search(conv.store, query, "u-1", top_k=100, threshold=0.2)
    assert ids(above) == conv.oracle(query, "u-1", top_k=100, threshold=0.2)
    assert all(m.score >= 0.2 for m in above) and len(above) < len(everything)
    assert ids(search(conv.store, query, "u-1", threshold=0.999)) == ["m-03"]


def test_upsert_replaces_a_messages_vector(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.message("m-1", "t-1", unit(0))
    conv.message("m-2", "t-1", unit(1))
    conv.upsert_all()

    conv.store.vectors.upsert([conv.record("m-1", unit(2))])

    matches = search(conv.store, unit(2), "u-1", top_k=10)
    assert ids(matches)[0] == "m-1" and matches[0].score == pytest.approx(1.0, abs=1e-5)
    assert ids(matches).count("m-1") == 1 and len(matches) == 2


def test_the_last_vector_of_a_message_in_one_batch_wins(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.message("m-1", "t-1")

    conv.store.vectors.upsert([conv.record("m-1", unit(0)), conv.record("m-1", unit(3))])

    (match,) = search(conv.store, unit(3), "u-1", top_k=10)
    assert match.message_id == "m-1" and match.score == pytest.approx(1.0, abs=1e-5)


def test_an_empty_index_finds_nothing_and_is_unbound(conv: Conversation) -> None:
    assert conv.store.vectors.index() is None
    assert search(conv.store, unit(0), "u-1") == []
    conv.store.vectors.upsert([])
    assert conv.store.vectors.index() is None


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize("top_k", [0, -1, 101, 1000, True, 2.0, "3", None])
def test_top_k_outside_1_to_100_is_refused(conv: Conversation, top_k: Any) -> None:
    with pytest.raises(ValidationError, match="top_k"):
        search(conv.store, unit(0), "u-1", top_k=top_k)


@pytest.mark.parametrize("threshold", [-1.01, 1.5, float("nan"), float("inf"), "0.5", True])
def test_threshold_outside_the_cosine_range_is_refused(conv: Conversation, threshold: Any) -> None:
    with pytest.raises(ValidationError, match="threshold"):
        search(conv.store, unit(0), "u-1", threshold=threshold)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resource_id": ""}, "resource id"),
        ({"resource_id": "   "}, "resource id"),
        ({"resource_id": None}, "resource id"),
        ({"thread_id": ""}, "thread id"),
        ({"embedder": ""}, "embedder"),
    ],
)
def test_blank_search_filters_are_refused(
    conv: Conversation, kwargs: dict[str, Any], match: str
) -> None:
    args = {"embedder": EMBEDDER, "resource_id": "u-1", **kwargs}
    with pytest.raises(ValidationError, match=match):
        conv.store.vectors.search(unit(0), **args)


BAD_VECTORS = [
    pytest.param([], id="empty"),
    pytest.param([0.0] * DIMENSIONS, id="zeros"),
    pytest.param([1.0] * 4097, id="over-4096"),
    pytest.param([float("nan")] + [1.0] * (DIMENSIONS - 1), id="nan"),
    pytest.param([float("inf")] + [1.0] * (DIMENSIONS - 1), id="inf"),
    pytest.param([1e39] + [1.0] * (DIMENSIONS - 1), id="over-float32"),
    pytest.param(["1"] * DIMENSIONS, id="strings"),
    pytest.param([True] * DIMENSIONS, id="bools"),
    pytest.param("0.1,0.2", id="a-string"),
]


@pytest.mark.parametrize("vector", BAD_VECTORS)
def test_a_bad_vector_is_refused_and_nothing_is_stored(conv: Conversation, vector: Any) -> None:
    conv.thread("t-1", "u-1")
    conv.message("good", "t-1")
    conv.message("bad", "t-1")

    with pytest.raises(ValidationError, match="vector"):
        conv.store.vectors.upsert([conv.record("good", unit(0)), conv.record("bad", vector)])

    assert conv.store.vectors.index() is None
    assert search(conv.store, unit(0), "u-1") == []


@pytest.mark.parametrize("vector", BAD_VECTORS)
def test_a_bad_query_vector_is_refused(conv: Conversation, vector: Any) -> None:
    with pytest.raises(ValidationError, match="vector"):
        search(conv.store, vector, "u-1")


@pytest.mark.parametrize(
    "changes",
    [{"message_id": ""}, {"thread_id": " "}, {"resource_id": ""}, {"embedder": ""}],
)
def test_blank_ids_are_refused(conv: Conversation, changes: dict[str, Any]) -> None:
    conv.thread("t-1", "u-1")
    conv.message("m-1", "t-1")
    with pytest.raises(ValidationError):
        conv.store.vectors.upsert([conv.record("m-1", unit(0), **changes)])
    assert conv.store.vectors.index() is None


def test_upsert_takes_a_list(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.message("m-1", "t-1")
    with pytest.raises(ValidationError, match="list"):
        conv.store.vectors.upsert(conv.record("m-1", unit(0)))
    with pytest.raises(ValidationError, match="MessageVector"):
        conv.store.vectors.upsert([{"message_id": "m-1"}])


def test_the_index_is_bound_to_one_embedder_and_dimensions(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.message("m-1", "t-1")
    conv.message("m-2", "t-1")
    conv.store.vectors.upsert([conv.record("m-1", unit(0))])
    assert conv.store.vectors.index() == (EMBEDDER, DIMENSIONS)

    other_embedder = conv.record("m-2", unit(1), embedder="test/other-16")
    with pytest.raises(ValidationError, match="embedder"):
        conv.store.vectors.upsert([other_embedder])
    wider = conv.record("m-2", [1.0] * (DIMENSIONS + 1))
    with pytest.raises(ValidationError, match="dimensions"):
        conv.store.vectors.upsert([wider])
    with pytest.raises(ValidationError, match="embedder"):
        conv.store.vectors.search(unit(0), embedder="test/other-16", resource_id="u-1")
    with pytest.raises(ValidationError, match="dimensions"):
        search(conv.store, [1.0] * (DIMENSIONS - 1), "u-1")

    # Nothing of the refused calls was stored, and the binding is unchanged.
    assert ids(search(conv.store, unit(1), "u-1", top_k=10)) == ["m-1"]
    assert conv.store.vectors.index() == (EMBEDDER, DIMENSIONS)


def test_deleting_every_vector_keeps_the_binding(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.message("m-1", "t-1", unit(0))
    conv.upsert_all()
    conv.store.vectors.delete(["m-1"])
    assert conv.store.vectors.index() == (EMBEDDER, DIMENSIONS)
    conv.message("m-2", "t-1")
    with pytest.raises(ValidationError, match="embedder"):
        conv.store.vectors.upsert([conv.record("m-2", unit(0), embedder="test/other-16")])


def test_one_batch_cannot_mix_embedders_or_dimensions(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.message("m-1", "t-1")
    conv.message("m-2", "t-1")
    with pytest.raises(ValidationError, match="mixes"):
        conv.store.vectors.upsert(
            [conv.record("m-1", unit(0)), conv.record("m-2", unit(0), embedder="test/other")]
        )
    with pytest.raises(ValidationError, match="mixes"):
        conv.store.vectors.upsert(
            [conv.record("m-1", unit(0)), conv.record("m-2", [1.0] * (DIMENSIONS + 1))]
        )
    assert conv.store.vectors.index() is None


# --- what the messages say ------------------------------------------------------------


def test_a_vector_for_a_message_not_stored_is_skipped(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.message("m-1", "t-1")
    ghost = replace(conv.record("m-1", unit(0)), message_id="m-never-saved")

    conv.store.vectors.upsert([ghost])

    assert search(conv.store, unit(0), "u-1") == []
    assert conv.store.vectors.index() is None


def test_a_vector_claiming_another_resource_or_thread_is_skipped(conv: Conversation) -> None:
    # A hostile (or confused) caller cannot make u-1's message show up in u-2's recall,
    # nor file it under a thread it is not in.
    conv.thread("t-1", "u-1")
    conv.thread("t-2", "u-2")
    conv.message("m-1", "t-1")

    conv.store.vectors.upsert([conv.record("m-1", unit(0), resource_id="u-2", thread_id="t-2")])
    conv.store.vectors.upsert([conv.record("m-1", unit(0), thread_id="t-2")])
    conv.store.vectors.upsert([conv.record("m-1", unit(0), created_at=at(999))])

    assert search(conv.store, unit(0), "u-2") == []
    assert search(conv.store, unit(0), "u-1") == []


def test_a_message_deleted_before_its_vector_arrives_stays_deleted(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.message("m-1", "t-1")
    conv.message("m-2", "t-1")
    late = conv.record("m-1", unit(0))
    conv.store.memory.delete_messages(["m-1"])

    conv.store.vectors.upsert([late, conv.record("m-2", unit(1))])

    assert ids(search(conv.store, unit(0), "u-1", top_k=10)) == ["m-2"]
    assert conv.store.memory.get_messages(["m-1"]) == []


# --- isolation and scope --------------------------------------------------------------


def test_another_resources_messages_never_appear(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.thread("t-2", "u-2")
    query = gaussian("secret")
    # u-2 holds the exact query vector and many close ones; u-1 only far ones.
    conv.message("u2-exact", "t-2", query)
    for i in range(10):
        conv.message(f"u2-near-{i}", "t-2", near(query, 0.1, i))
        conv.message(f"u1-far-{i}", "t-1", gaussian(f"far-{i}"))
    conv.upsert_all()

    for top_k in (1, 4, 100):
        found = search(conv.store, query, "u-1", top_k=top_k)
        assert found and all(m.resource_id == "u-1" for m in found)
        assert not any(i.startswith("u2-") for i in ids(found))
        assert ids(found) == conv.oracle(query, "u-1", top_k=top_k)
    assert search(conv.store, query, "u-3") == []
    assert ids(search(conv.store, query, "u-2", top_k=1)) == ["u2-exact"]


def test_thread_scope_stays_in_the_thread(conv: Conversation) -> None:
    conv.thread("t-a", "u-1")
    conv.thread("t-b", "u-1")
    conv.thread("t-x", "u-2")
    query = gaussian("q")
    conv.message("b-exact", "t-b", query)
    conv.message("x-exact", "t-x", query)
    for i in range(6):
        conv.message(f"a-{i}", "t-a", gaussian(f"a-{i}"))
    conv.upsert_all()

    in_a = search(conv.store, query, "u-1", thread_id="t-a", top_k=100)
    assert sorted(ids(in_a)) == [f"a-{i}" for i in range(6)]
    assert all(m.thread_id == "t-a" for m in in_a)
    assert ids(search(conv.store, query, "u-1", thread_id="t-b")) == ["b-exact"]
    # A thread of another resource is out of reach even when named.
    assert search(conv.store, query, "u-1", thread_id="t-x") == []


# --- deletes --------------------------------------------------------------------------


def test_delete_delete_thread_and_delete_resource(conv: Conversation) -> None:
    conv.thread("t-1", "u-1")
    conv.thread("t-2", "u-1")
    conv.thread("t-3", "u-2")
    for thread in ("t-1", "t-2", "t-3"):
        for i in range(3):
            conv.message(f"{thread}-{i}", thread, gaussian(f"{thread}-{i}"))
    conv.upsert_all()
    q = gaussian("q")

    conv.store.vectors.delete(["t-1-0", "unknown-id"])
    assert "t-1-0" not in ids(search(conv.store, q, "u-1", top_k=100))
    conv.store.vectors.delete([])

    conv.store.vectors.delete_thread("t-2")
    assert sorted(ids(search(conv.store, q, "u-1", top_k=100))) == ["t-1-1", "t-1-2"]
    conv.store.vectors.delete_thread("no-such-thread")

    conv.store.vectors.delete_resource("u-1")
    assert search(conv.store, q, "u-1", top_k=100) == []
    assert len(search(conv.store, q, "u-2", top_k=100)) == 3
    # The messages themselves are untouched: only their vectors went.
    assert len(conv.store.memory.get_messages(list(conv.messages))) == 9


@pytest.mark.parametrize(
    ("call", "args"),
    [("delete", ("m-1",)), ("delete", ([""],)), ("delete_thread", ("",)),
     ("delete_resource", (" ",))],
)
def test_bad_delete_arguments_are_refused(
    conv: Conversation, call: str, args: tuple[Any, ...]
) -> None:
    with pytest.raises(ValidationError):
        getattr(conv.store.vectors, call)(*args)


# --- cascades through the memory domain -----------------------------------------------


@pytest.fixture
def two_threads(conv: Conversation) -> Conversation:
    conv.thread("t-1", "u-1")
    conv.thread("t-2", "u-1")
    for thread in ("t-1", "t-2"):
        for i in range(3):
            conv.message(f"{thread}-{i}", thread, gaussian(f"{thread}-{i}"))
    conv.upsert_all()
    return conv


def _all(conv: Conversation) -> list[str]:
    return sorted(ids(search(conv.store, gaussian("q"), "u-1", top_k=100)))


def test_deleting_messages_deletes_their_vectors(two_threads: Conversation) -> None:
    two_threads.store.memory.delete_messages(["t-1-0", "t-2-2"])
    assert _all(two_threads) == ["t-1-1", "t-1-2", "t-2-0", "t-2-1"]


def test_deleting_a_thread_deletes_its_vectors(two_threads: Conversation) -> None:
    two_threads.store.memory.delete_thread("t-1")
    assert _all(two_threads) == ["t-2-0", "t-2-1", "t-2-2"]


def test_editing_a_messages_text_drops_its_vector(two_threads: Conversation) -> None:
    two_threads.store.memory.update_messages(
        [MessageUpdate(id="t-1-1", content={"parts": [{"type": "text", "text": "new"}]})]
    )
    assert "t-1-1" not in _all(two_threads)
    assert len(_all(two_threads)) == 5


def test_moving_a_message_drops_its_vector(two_threads: Conversation) -> None:
    two_threads.thread("t-other", "u-2")
    two_threads.store.memory.update_messages([MessageUpdate(id="t-1-1", thread_id="t-other")])
    assert "t-1-1" not in _all(two_threads)
    assert search(two_threads.store, gaussian("t-1-1"), "u-2") == []


def test_resaving_a_message_with_other_text_drops_its_vector(two_threads: Conversation) -> None:
    old = two_threads.messages["t-2-0"]
    two_threads.store.memory.save_messages([replace(old, content=content("rewritten"))])
    assert "t-2-0" not in _all(two_threads)


def test_a_vector_can_be_stored_again_after_an_edit(two_threads: Conversation) -> None:
    two_threads.store.memory.update_messages(
        [MessageUpdate(id="t-1-1", content={"parts": [{"type": "text", "text": "new"}]})]
    )
    two_threads.store.vectors.upsert([two_threads.record("t-1-1", unit(5))])
    assert ids(search(two_threads.store, unit(5), "u-1", top_k=1)) == ["t-1-1"]


# --- the scenario at storage level --------------------------------------------


@pytest.fixture
def recall_set(conv: Conversation) -> Conversation:
    """u-1 with 3 threads of 50 messages; u-2 with one thread holding near-copies."""
    for t in (1, 2, 3):
        conv.thread(f"u1-thread-{t}", "u-1")
        conv.bulk(f"u1-thread-{t}", {
            f"u1-t{t}-m{n:02}": gaussian(f"u1-{t}-{n}") for n in range(1, 51)
        })
    conv.thread("u2-thread-1", "u-2")
    # u-2's messages sit right next to u-1's thread 2 messages.
    conv.bulk("u2-thread-1", {
        f"u2-t1-m{n:02}": near(gaussian(f"u1-2-{n}"), 0.01, n) for n in range(1, 51)
    })
    conv.upsert_all()
    return conv


def test_the_nearest_message_of_the_resource_comes_first(recall_set: Conversation) -> None:
    query = near(gaussian("u1-2-17"), 0.2, "query")

    matches = search(recall_set.store, query, "u-1", top_k=3)

    assert matches[0].message_id == "u1-t2-m17"
    assert matches[0].thread_id == "u1-thread-2"
    assert ids(matches) == recall_set.oracle(query, "u-1", top_k=3)
    assert all(m.resource_id == "u-1" for m in matches)


def test_thread_scope_on_the_recall_set(recall_set: Conversation) -> None:
    query = near(gaussian("u1-2-17"), 0.2, "query")
    in_thread_1 = search(recall_set.store, query, "u-1", thread_id="u1-thread-1", top_k=10)
    assert all(m.thread_id == "u1-thread-1" for m in in_thread_1)
    assert ids(in_thread_1) == recall_set.oracle(query, "u-1", thread_id="u1-thread-1", top_k=10)
    in_thread_2 = search(recall_set.store, query, "u-1", thread_id="u1-thread-2", top_k=1)
    assert ids(in_thread_2) == ["u1-t2-m17"]


def test_after_delete_thread_none_of_its_messages_can_be_recalled(
    recall_set: Conversation,
) -> None:
    recall_set.store.memory.delete_thread("u1-thread-2")

    for n in (17, 1, 50):
        found = search(recall_set.store, gaussian(f"u1-2-{n}"), "u-1", top_k=100)
        assert not any(m.thread_id == "u1-thread-2" for m in found)
        assert len(found) == 100
    # u-2's near-copies are still there, and still only u-2's.
    assert ids(search(recall_set.store, gaussian("u1-2-17"), "u-2", top_k=1)) == ["u2-t1-m17"]


@pytest.mark.parametrize("scope", ["resource", "thread"])
def test_results_equal_exact_search_for_many_queries(
    recall_set: Conversation, scope: str
) -> None:
    # ANN (HNSW, DynamoDB's index) must not lose what exact search finds on this set;
    # the same oracle for every backend makes their results agree.
    for q in range(20):
        t = 1 + q % 3
        query = near(gaussian(f"u1-{t}-{1 + (q * 7) % 50}"), 0.6, q)
        thread = f"u1-thread-{t}" if scope == "thread" else None
        for top_k in (1, 3, 10):
            found = search(recall_set.store, query, "u-1", thread_id=thread, top_k=top_k)
            assert ids(found) == recall_set.oracle(query, "u-1", thread, top_k=top_k), (q, top_k)
        wide = search(recall_set.store, query, "u-1", thread_id=thread, top_k=100)
        assert ids(wide) == recall_set.oracle(query, "u-1", thread, top_k=100)
