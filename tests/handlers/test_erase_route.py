"""``DELETE /api/memory/resources/{resourceId}``: who may erase, and what it answers."""

from __future__ import annotations

from typing import Any

import pytest

from agents import App
from storage.records import Message, Thread
from tests.handlers.conftest import Call
from tests.handlers.test_auth import as_user, jwt_api  # noqa: F401 (fixture)

ZERO = {"threads": 0, "messages": 0, "vectors": 0, "resources": 0, "runs": 0, "spans": 0,
        "scores": 0, "blobs": 0}


def _seed(app: App, resource: str) -> None:
    memory = app.storage.memory
    memory.save_thread(Thread(id=f"t-{resource}", resource_id=resource))
    memory.save_messages([Message(
        id=f"m-{resource}-{i}", thread_id=f"t-{resource}", role="user",
        content={"format": 2, "parts": [{"type": "text", "text": f"secret {i}"}]})
        for i in range(2)])
    memory.update_resource(resource, working_memory=f"# {resource}")


def _snapshot(app: App, resource: str) -> Any:
    memory = app.storage.memory
    threads = memory.list_threads(resource_id=resource, per_page=None).items
    return (threads, [memory.list_messages(t.id, per_page=None).items for t in threads],
            memory.get_resource(resource))


@pytest.fixture
def seeded(app: App) -> App:
    _seed(app, "alice")
    _seed(app, "bob")
    return app


def test_a_jwt_caller_erases_itself(jwt_api: Call, seeded: App) -> None:  # noqa: F811
    bob_before = _snapshot(seeded, "bob")
    reply = as_user(jwt_api, "alice")("DELETE", "/api/memory/resources/alice")
    assert reply.status == 200
    assert reply.body["resourceId"] == "alice"
    assert reply.body["counts"] == dict(ZERO, threads=1, messages=2, resources=1)
    assert reply.body["startedAt"].endswith("Z") and reply.body["finishedAt"].endswith("Z")
    assert "secret" not in str(reply.body)
    assert _snapshot(seeded, "alice") == ([], [], None)
    assert _snapshot(seeded, "bob") == bob_before


@pytest.mark.parametrize("target", ["bob", "nobody"])
def test_a_jwt_caller_cannot_erase_another_and_learns_nothing(
    jwt_api: Call, seeded: App, target: str  # noqa: F811
) -> None:
    before = _snapshot(seeded, "bob")
    reply = as_user(jwt_api, "alice")("DELETE", f"/api/memory/resources/{target}")
    # An existing stranger and a missing one get the same answer
    assert reply.status == 404 and "Resource not found" in str(reply.body)
    assert target not in str(reply.body)
    assert _snapshot(seeded, "bob") == before


def test_the_refusal_is_the_same_for_an_existing_and_a_missing_stranger(
    jwt_api: Call, seeded: App  # noqa: F811
) -> None:
    alice = as_user(jwt_api, "alice")
    existing = alice("DELETE", "/api/memory/resources/bob")
    missing = alice("DELETE", "/api/memory/resources/nobody")
    assert existing.status == missing.status == 404
    assert existing.body == missing.body


def test_without_a_token_nothing_is_erased(jwt_api: Call, seeded: App) -> None:  # noqa: F811
    before = _snapshot(seeded, "alice")
    reply = jwt_api("DELETE", "/api/memory/resources/alice")
    assert reply.status == 401
    assert _snapshot(seeded, "alice") == before


def test_an_iam_operator_erases_any_resource(api: Call, seeded: App) -> None:
    bob_before = _snapshot(seeded, "bob")
    reply = api("DELETE", "/api/memory/resources/alice")
    assert reply.status == 200
    assert reply.body["counts"] == dict(ZERO, threads=1, messages=2, resources=1)
    assert _snapshot(seeded, "alice") == ([], [], None)
    assert _snapshot(seeded, "bob") == bob_before


def test_an_unknown_resource_and_a_repeat_answer_an_empty_receipt(
    api: Call, seeded: App
) -> None:
    unknown = api("DELETE", "/api/memory/resources/nobody")
    assert unknown.status == 200 and unknown.body["counts"] == ZERO
    assert api("DELETE", "/api/memory/resources/alice").status == 200
    repeat = api("DELETE", "/api/memory/resources/alice")
    assert repeat.status == 200 and repeat.body["counts"] == ZERO


@pytest.mark.parametrize("bad", ["x" * 600, "\u00e9" * 600])
def test_bad_resource_ids_are_a_400_json_and_erase_nothing(
    api: Call, seeded: App, bad: str
) -> None:
    before = _snapshot(seeded, "alice"), _snapshot(seeded, "bob")
    reply = api("DELETE", f"/api/memory/resources/{bad}")
    assert 400 <= reply.status < 500 and isinstance(reply.body, dict)
    assert (_snapshot(seeded, "alice"), _snapshot(seeded, "bob")) == before
