"""Turns over HTTP, as a hostile or retrying client drives them (issues 11.1, 11.2, 15.1).

The dev server (the Lambda handlers under uvicorn) serves an App whose model is
controlled by the test: it counts its calls, can be held at a gate (to hit a turn in
flight) or made slower than the request deadline. Each test runs on the embedded
default (SQLite + files), DynamoDB + S3 under moto and PostgreSQL, and ends by
checking every stored thread: questions and answers alternate (each question
answered at most once, every answer after its question, the answer's id derived from
its question's) and the counts are exact.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from agents import Agent, App, InlineJobRunner
from agents.deadline import DeadlineExceededError, time_left
from agents.idempotency import TurnKey
from agents.models.base import BaseModel, Finish, ModelRequest, TextDelta, Usage, last_user_text
from handlers import _wiring
from handlers.local import app as local_app
from tests.handlers.servers import serve
from tests.reliability.support import open_backend

AGENT = "assistant"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TURNS"
AUDIENCE = "turns-client"
SECRET = "a-test-secret-that-is-long-enough-for-hs256"
WAIT = 30.0

BACKENDS = [
    pytest.param("sqlite+files", id="embedded"),
    pytest.param("dynamodb+s3", id="dynamodb+s3"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


class ControlledModel(BaseModel):
    """Answers ``answer to <question>``; counts calls; can wait at a gate or be slow.

    ``delay`` is bounded by the request's deadline as a real provider bounds its read
    timeout, unless ``ignore_deadline`` (a provider that does not).
    """

    id = "test/controlled"

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.gate: threading.Event | None = None
        self.delay = 0.0
        self.ignore_deadline = False
        self.gave_up = 0  # calls that stopped at the request's deadline
        self._lock = threading.Lock()

    def stream(self, request: ModelRequest) -> Iterator[Any]:
        with self._lock:
            self.calls += 1
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT), "the test never opened the gate"
        if self.delay:
            left = None if self.ignore_deadline else time_left(request.deadline)
            time.sleep(self.delay if left is None else min(self.delay, left))
            if left is not None and left < self.delay:
                with self._lock:
                    self.gave_up += 1
                raise DeadlineExceededError("the model call ran out of time")
        for word in f"answer to {last_user_text(request)}".split(" "):
            yield TextDelta(word + " ")
        yield Finish("stop", Usage(3, 4))


@dataclass
class Kit:
    """The served dev server, its store and model, and a client per tenant."""

    base: str
    store: Any
    model: ControlledModel
    auth: str
    expected: dict[str, int] = field(default_factory=dict)  # thread -> turns stored

    def headers(self, user: str) -> dict[str, str]:
        if self.auth != "jwt":
            return {}
        claims = {"sub": user, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600,
                  "token_use": "id"}
        return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}

    def body(self, user: str, thread: str, message_id: str, text: str) -> dict[str, Any]:
        return {"messages": [{"id": message_id, "role": "user", "content": text}],
                "memory": {"thread": thread, "resource": user}}

    def generate(self, user: str, thread: str, message_id: str, text: str = "hello"
                 ) -> httpx.Response:
        return httpx.post(f"{self.base}/api/agents/{AGENT}/generate", timeout=WAIT,
                          json=self.body(user, thread, message_id, text),
                          headers=self.headers(user))

    def stream(self, user: str, thread: str, message_id: str, text: str = "hello"
               ) -> tuple[int, Any]:
        """``(status, chunks)`` of a stream, or ``(status, json body)`` when refused."""
        with httpx.stream("POST", f"{self.base}/api/agents/{AGENT}/stream", timeout=WAIT,
                          json=self.body(user, thread, message_id, text),
                          headers=self.headers(user)) as response:
            if not response.headers["content-type"].startswith("text/event-stream"):
                response.read()
                return response.status_code, response.json()
            chunks = [json.loads(line[6:]) for line in response.iter_lines()
                      if line.startswith("data: ") and line != "data: [DONE]"]
            return response.status_code, chunks

    def turns(self, thread: str) -> list[tuple[str, str]]:
        """The thread's (question, answer) texts, after checking it is well formed."""
        page = self.store.memory.list_messages(thread, per_page=None)
        assert page.total == len(page.items), "the total counts what is listed"
        items = page.items
        assert [m.role for m in items] == ["user", "assistant"] * (len(items) // 2) and (
            len(items) % 2 == 0), f"thread {thread} is not question, answer, ...: {items}"
        pairs = []
        for question, answer in zip(items[::2], items[1::2], strict=True):
            assert question.created_at < answer.created_at
            assert answer.id == TurnKey(AGENT, thread, question.id).answer_id
            pairs.append((question.text, answer.text))
        return pairs

    def check_every_thread(self) -> None:
        """Every stored thread is well formed, and holds exactly the turns expected."""
        threads = self.store.memory.list_threads(per_page=None).items
        counts = {t.id: len(self.turns(t.id)) for t in threads}
        assert {t: n for t, n in counts.items() if n or t in self.expected} == self.expected


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["payload"]["text"] for c in chunks if c["type"] == "text-delta")


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[Kit]:
    backend, auth = request.param
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("STOWAGE_AUTH", auth)
    if auth == "jwt":
        monkeypatch.setenv("STOWAGE_JWT_ISSUER", ISSUER)
        monkeypatch.setenv("STOWAGE_JWT_AUDIENCE", AUDIENCE)
        monkeypatch.setenv("STOWAGE_JWT_SECRET", SECRET)
    monkeypatch.setenv("STOWAGE_REQUEST_TIMEOUT", "1.5")
    _wiring.reset()
    model = ControlledModel()
    with open_backend(backend, tmp_path) as store:
        _wiring.use_app(App(agents=[Agent(id=AGENT, model=model)], storage=store,
                            jobs=InlineJobRunner()))
        try:
            with serve(local_app) as base:
                yielded = Kit(base, store, model, auth)
                yield yielded
                yielded.check_every_thread()
        finally:
            _wiring.reset()


def both_auth_modes() -> list[Any]:
    return [pytest.param((b.values[0], auth), id=f"{b.id}-{auth}", marks=b.marks)
            for b in BACKENDS for auth in ("jwt", "iam")]


def each_backend(auth: str = "jwt") -> list[Any]:
    return [pytest.param((b.values[0], auth), id=b.id, marks=b.marks) for b in BACKENDS]


# --- 11.1: a client-chosen message id never reaches another thread ---------------------------


@pytest.mark.parametrize("kit", both_auth_modes(), indirect=True)
def test_alice_cannot_reuse_bobs_message_ids(kit: Kit) -> None:
    # Given Bob's turn, and an earlier turn of Alice's
    assert kit.generate("bob", "t-bob", "bob-q", "bob's secret").status_code == 200
    assert kit.generate("alice", "t-alice", "alice-q", "mine").status_code == 200
    bob_answer = TurnKey(AGENT, "t-bob", "bob-q").answer_id

    # When Alice sends turns that reuse Bob's question id and his answer's id
    for message_id in ("bob-q", bob_answer):
        refused = kit.generate("alice", "t-alice", message_id, "take it")
        # Then each is refused with a 409 that says nothing about where the id lives
        assert refused.status_code == 409, refused.text
        assert "t-bob" not in refused.text and "bob'" not in refused.text
        assert set(refused.json()) <= {"error", "retryable"}

    # The stream refuses it the same way, first attempt included: a JSON 409 before the
    # model runs, and nothing stored (not even the new thread)
    calls = kit.model.calls
    for _ in range(2):
        status, body = kit.stream("alice", "t-alice-2", "bob-q", "take it")
        assert (status, kit.model.calls) == (409, calls) and "t-bob" not in json.dumps(body)
        assert body["error"] == "message id 'bob-q' is already used by another thread"
    assert kit.model.calls == 2  # Bob's turn and Alice's first: no refused call ran it

    assert kit.turns("t-bob") == [("bob's secret", "answer to bob's secret ")]
    assert kit.turns("t-alice") == [("mine", "answer to mine ")]
    assert kit.store.memory.get_thread("t-alice-2") is None
    kit.expected.update({"t-bob": 1, "t-alice": 1})


@pytest.mark.parametrize("kit", each_backend("jwt"), indirect=True)
def test_alice_cannot_name_bobs_thread_to_reach_his_turn(kit: Kit) -> None:
    assert kit.generate("bob", "t-bob", "bob-q", "bob's secret").status_code == 200
    # Same thread, same id: were the run looked up first, this would replay Bob's answer.
    replay = kit.generate("alice", "t-bob", "bob-q", "anything")
    assert replay.status_code == 404 and "secret" not in replay.text
    status, body = kit.stream("alice", "t-bob", "bob-q", "anything")
    assert status == 404 and "secret" not in json.dumps(body)
    assert kit.model.calls == 1
    kit.expected.update({"t-bob": 1})


# --- 11.2: retries are one turn ------------------------------------------------------------


@pytest.mark.parametrize("kit", both_auth_modes(), indirect=True)
def test_retried_generates_replay_the_stored_answer(kit: Kit) -> None:
    first = kit.generate("alice", "t-1", "q-1", "hello")
    again = kit.generate("alice", "t-1", "q-1", "hello")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["text"] == first.json()["text"] == "answer to hello "
    assert again.json()["runId"] == first.json()["runId"]
    assert [m["id"] for m in again.json()["messages"]] == [m["id"]
                                                          for m in first.json()["messages"]]
    # and the stream route replays it too, in Mastra's chunk shapes
    status, chunks = kit.stream("alice", "t-1", "q-1", "hello")
    assert status == 200 and text_of(chunks) == "answer to hello "
    assert chunks[0]["type"] == "start" and chunks[-1]["type"] == "finish"
    assert kit.model.calls == 1
    # A new message id is a new turn
    assert kit.generate("alice", "t-1", "q-2", "more").status_code == 200
    assert kit.turns("t-1") == [("hello", "answer to hello "), ("more", "answer to more ")]
    assert kit.model.calls == 2
    kit.expected.update({"t-1": 2})


@pytest.mark.parametrize("kit", each_backend("iam"), indirect=True)
def test_retried_streams_replay_the_stored_answer(kit: Kit) -> None:
    status, first = kit.stream("u", "t-1", "q-1", "hello")
    assert status == 200 and first[-1]["type"] == "finish"
    status, again = kit.stream("u", "t-1", "q-1", "hello")
    assert status == 200 and text_of(again) == text_of(first) == "answer to hello "
    assert {c["runId"] for c in again} == {first[0]["runId"]}
    assert again[-1]["payload"]["messages"]["nonUser"][0]["id"] == (
        first[-1]["payload"]["messages"]["nonUser"][0]["id"])
    reply = kit.generate("u", "t-1", "q-1", "hello")
    assert reply.status_code == 200 and reply.json()["text"] == "answer to hello "
    assert kit.model.calls == 1
    kit.expected.update({"t-1": 1})


@pytest.mark.parametrize("kit", each_backend("jwt"), indirect=True)
def test_a_retry_while_the_first_attempt_runs_is_409(kit: Kit) -> None:
    kit.model.gate = threading.Event()
    outcome: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: outcome.update(first=kit.stream("alice", "t-1", "q-1", "hello")))
    first.start()
    try:
        assert kit.model.entered.wait(WAIT)
        # When the client retries while the model is still answering
        busy = kit.generate("alice", "t-1", "q-1", "hello")
        status, body = kit.stream("alice", "t-1", "q-1", "hello")
        # Then both retries are told to come back later
        assert busy.status_code == 409 and busy.json()["retryable"] is True
        assert status == 409 and body["retryable"] is True
    finally:
        kit.model.gate.set()
        first.join(WAIT)
    status, chunks = outcome["first"]
    assert status == 200 and text_of(chunks) == "answer to hello "
    later = kit.generate("alice", "t-1", "q-1", "hello")
    assert later.status_code == 200 and later.json()["text"] == "answer to hello "
    assert kit.model.calls == 1
    kit.expected.update({"t-1": 1})


@pytest.mark.parametrize("kit", each_backend("iam"), indirect=True)
def test_a_stream_retry_of_a_generate_in_flight_is_409(kit: Kit) -> None:
    kit.model.gate = threading.Event()
    outcome: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: outcome.update(first=kit.generate("u", "t-1", "q-1", "hello")))
    first.start()
    try:
        assert kit.model.entered.wait(WAIT)
        status, body = kit.stream("u", "t-1", "q-1", "hello")
        assert status == 409 and body["retryable"] is True
    finally:
        kit.model.gate.set()
        first.join(WAIT)
    assert outcome["first"].status_code == 200
    assert kit.model.calls == 1
    kit.expected.update({"t-1": 1})


@pytest.mark.parametrize("kit", each_backend("jwt"), indirect=True)
def test_concurrent_retries_store_one_turn(kit: Kit) -> None:
    kit.model.delay = 0.3
    results: list[tuple[str, int, str]] = []
    lock = threading.Lock()

    def via_generate() -> None:
        reply = kit.generate("alice", "t-1", "q-1", "hello")
        with lock:
            results.append(("generate", reply.status_code,
                            reply.json().get("text", "") if reply.status_code == 200 else ""))

    def via_stream() -> None:
        status, chunks = kit.stream("alice", "t-1", "q-1", "hello")
        with lock:
            results.append(("stream", status, text_of(chunks) if status == 200 else ""))

    workers = [threading.Thread(target=t) for t in (via_generate, via_stream) * 3]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT)
    assert len(results) == 6
    assert {status for _, status, _ in results} <= {200, 409}, results
    answered = [text for _, status, text in results if status == 200]
    assert answered and set(answered) == {"answer to hello "}
    assert kit.turns("t-1") == [("hello", "answer to hello ")]
    kit.expected.update({"t-1": 1})


# --- 15.1: a deadline under API Gateway's timeout -----------------------------------------------


@pytest.mark.parametrize("kit", each_backend("iam"), indirect=True)
@pytest.mark.parametrize("ignore_deadline", [False, True], ids=["bounded", "unbounded"])
def test_a_model_slower_than_the_deadline_answers_504_and_saves_nothing(
        kit: Kit, ignore_deadline: bool) -> None:
    # Given a model slower than the 1.5 s deadline: one that bounds its read by the
    # deadline as real providers do (it gives up there), or one that does not (its
    # answer comes after the deadline)
    kit.model.delay, kit.model.ignore_deadline = 3.0, ignore_deadline
    reply = kit.generate("u", "t-1", "q-1", "hello")
    # Then a clear, retryable 504, and nothing of the turn is stored
    assert reply.status_code == 504, reply.text
    assert reply.json()["retryable"] is True and "stream" in reply.json()["error"]
    assert kit.model.gave_up == (0 if ignore_deadline else 1)
    assert kit.turns("t-1") == []
    # When the client retries with the same message id and the model is fast again
    kit.model.delay = 0.0
    retry = kit.generate("u", "t-1", "q-1", "hello")
    # Then the turn runs again and is stored once
    assert retry.status_code == 200 and retry.json()["text"] == "answer to hello "
    assert kit.model.calls == 2
    assert kit.turns("t-1") == [("hello", "answer to hello ")]
    kit.expected.update({"t-1": 1})


@pytest.mark.parametrize("kit", each_backend("iam")[:1], indirect=True)
def test_long_answers_belong_on_the_stream_which_has_no_deadline(kit: Kit) -> None:
    kit.model.delay = 2.0  # over the 1.5 s request deadline
    status, chunks = kit.stream("u", "t-1", "q-1", "hello")
    assert status == 200 and chunks[-1]["type"] == "finish"
    assert kit.turns("t-1") == [("hello", "answer to hello ")]
    kit.expected.update({"t-1": 1})
