"""Red team of the data-lifecycle features (issue 16), part two: erase, prune, the TTL
stream consumer, the erase and export routes, blob content types (import attacks are in
``test_lifecycle_attacks``).

Every refused import is checked against the target's full raw contents (``raw.dump``:
every row, item and blob key, read below the API), so a write that slipped through
before the refusal fails the test. Archives are forged with valid checksums and counts
(``with_manifest``) so that only the planted fault is wrong.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storage
from storage.errors import (
    ArchiveError,
    StorageError,
    UnavailableError,
    ValidationError,
)
from storage.lifecycle import import_archive
from storage.records import Message
from tests.reliability.lifecycle_hostile import (
    VICTIM,
    VICTIM_BYTES,
    VICTIM_THREAD,
    fill,
    good_archive,
    holdings,
    plant_victim,
)
from tests.storage.conformance import raw
from tests.storage.conformance.archive_data import seed
from tests.storage.conformance.backends import BACKENDS, Backend
from tests.storage.conformance.helpers import content, make_message, make_thread


@pytest.fixture(scope="module")
def good() -> bytes:
    return good_archive()[0]


def _refused(store: Any, data: bytes, error: type[Exception] = ArchiveError) -> Exception:
    """Import ``data``: it must raise ``error`` and leave ``store`` exactly as it was."""
    before = raw.dump(store)
    with pytest.raises(error) as caught:
        import_archive(store, io.BytesIO(data))
    assert raw.dump(store) == before
    return caught.value


# --- erase -----------------------------------------------------------------------------------

# Ids a prefix, LIKE or glob match of one would take for another's.
LOOKALIKES = ["a", "a/b", "a%2Fb", "a*", "a%", "a_", "%", "_", "A", "a b", "a/", ".", ".."]




@pytest.mark.parametrize("backend", [pytest.param(b, id=b.name, marks=b.marks)
                                     for b in BACKENDS])
def test_erasing_lookalike_ids_takes_nothing_of_another(backend: Backend, tmp_path: Path) -> None:
    victims = ["%", "_", "a*", "a%", "a/", ".."]
    with backend.factory(tmp_path) as store:
        for n, resource in enumerate(LOOKALIKES, 1):
            fill(store, resource, n)
        expected = {r: holdings(store, r) for r in LOOKALIKES}
        for victim in victims:
            store.erase_resource(victim)
        for resource in LOOKALIKES:
            held = holdings(store, resource)
            if resource in victims:
                assert not any(held), (resource, held)
            else:
                assert held == expected[resource], resource


def test_erasing_a_resource_named_like_another_tenants_thread(target: Any) -> None:
    plant_victim(target)
    before = raw.mentioning(target, VICTIM)
    receipt = target.erase_resource(VICTIM_THREAD)
    assert receipt.empty
    assert raw.mentioning(target, VICTIM) == before


def test_an_erase_racing_writes_of_the_resource_leaves_nothing_after_a_rerun(
    tmp_path: Path,
) -> None:
    store = storage.CompositeStore(storage.open(f"sqlite:///{tmp_path / 'r.db'}"),
                                   blobs=storage.open(f"file:///{tmp_path / 'blobs'}"))
    store.setup()
    fill(store, "bystander", 1)
    before = raw.dump(store)
    stop = threading.Event()
    errors: list[BaseException] = []

    def turns() -> None:
        n = 100
        while not stop.is_set():
            n += 1
            try:
                thread = store.memory.save_thread(make_thread("racer", created=n))
                store.memory.save_messages([make_message(thread.id, f"m{n}", created=n)])
            except StorageError:
                continue  # the thread went between the two writes: the turn fails cleanly
            except BaseException as exc:  # pragma: no cover - the test fails on it
                errors.append(exc)
                return

    writer = threading.Thread(target=turns)
    writer.start()
    try:
        for _ in range(5):
            # UnavailableError: the writer kept up, the erase stops rather than chase it
            with contextlib.suppress(UnavailableError):
                store.erase_resource("racer", batch_size=2)
    finally:
        stop.set()
        writer.join()
    assert errors == []
    # Once the writes stop, one more erase leaves exactly what was there before
    store.erase_resource("racer")
    assert raw.dump(store) == before
    store.close()


def test_erase_batch_sizes_out_of_range_are_refused_before_anything_goes(target: Any) -> None:
    plant_victim(target)
    before = raw.dump(target)
    for size in (0, -1, 10**9, True, 2.5, "10", None):
        with pytest.raises(ValidationError):
            target.erase_resource(VICTIM, batch_size=size)
    assert raw.dump(target) == before


def test_a_message_type_no_backend_can_store_is_refused(target: Any) -> None:
    thread = target.memory.save_thread(make_thread("alice"))
    for bad in ("v2\x00", "\ud800", "", "x" * 10_000):
        message = Message(id="m-bad", thread_id=thread.id, role="user", content=content("x"),
                          type=bad)
        with pytest.raises(ValidationError):
            target.memory.save_messages([message])
    assert target.memory.list_messages(thread.id, per_page=0).total == 0


# --- prune -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -1, 10**9, True, 2.5, "10", None])
def test_prune_batch_sizes_out_of_range_are_refused(tmp_path: Path, size: Any) -> None:
    from storage.lifecycle import Retention

    store = storage.open(f"sqlite:///{tmp_path / 'p.db'}")
    store.setup()
    fill(store, "alice", 1)
    before = raw.dump(store)
    with pytest.raises(ValidationError):
        store.prune(retention=Retention.from_mapping({"threads": "1d", "runs": "1d"}),
                    batch_size=size)
    assert raw.dump(store) == before
    store.close()


# --- the TTL stream consumer (handlers.expiry) ---------------------------------------------


@pytest.fixture
def dynamo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from types import SimpleNamespace

    import handlers.expiry as expiry
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb(with_s3=True) as (store, _):
        monkeypatch.setattr(expiry, "get_app", lambda: SimpleNamespace(storage=store))
        yield store


def _ttl_record(image: dict[str, Any], seq: str = "1") -> dict[str, Any]:
    return {"eventID": seq, "eventName": "REMOVE", "eventSource": "aws:dynamodb",
            "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            "dynamodb": {"Keys": {"pk": image.get("pk", {"S": "x"}),
                                  "sk": image.get("sk", {"S": "THREAD"})},
                         "OldImage": image, "SequenceNumber": seq,
                         "StreamViewType": "NEW_AND_OLD_IMAGES"}}


def _thread_item(store: Any, thread_id: str) -> dict[str, Any]:
    item: dict[str, Any] = store.memory.dynamo.client.get_item(
        TableName=store.memory.table, Key={"pk": {"S": f"THREAD#{thread_id}"},
                                           "sk": {"S": "THREAD"}})["Item"]
    return item


def test_forged_ttl_records_delete_nothing_of_a_live_thread(dynamo: Any) -> None:
    from handlers.events import LocalContext
    from handlers.expiry import handler

    store = dynamo
    uri = plant_victim(store)
    live = _thread_item(store, VICTIM_THREAD)
    before = raw.dump(store)
    forged = {
        # the live thread's own image, claiming a TTL delete of it
        "live image": dict(live),
        # a later "last write" so every message counts as old
        "future updated_at": {**live, "updated_at": {"N": str(10**15)}},
        "no updated_at": {k: v for k, v in live.items() if k != "updated_at"},
        "another resource": {**live, "resource_id": {"S": "alice"}},
        "no resource": {k: v for k, v in live.items() if k != "resource_id"},
        "an expiry still to come": {**live, "expires_at": {"N": str(10**11)}},
        "id and key disagree": {**live, "id": {"S": "someone-else"}},
    }
    records = [_ttl_record(image, str(i)) for i, image in enumerate(forged.values(), 1)]
    answer = handler({"Records": records}, LocalContext())
    # Each refused record is reported (so it is retried, then parked), none is acted on
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert failed == {r["dynamodb"]["SequenceNumber"] for r in records}
    assert raw.dump(store) == before
    assert store.blobs.get(uri) == VICTIM_BYTES
    assert store.memory.list_threads(resource_id=VICTIM).total == 1


def test_ttl_records_of_other_items_are_acknowledged_and_ignored(dynamo: Any) -> None:
    from handlers.events import LocalContext
    from handlers.expiry import handler

    store = dynamo
    plant_victim(store)
    before = raw.dump(store)
    message = store.memory.dynamo.client.query(
        TableName=store.memory.table, KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": f"THREAD#{VICTIM_THREAD}"}})["Items"]
    others = [i for i in message if i["sk"]["S"] != "THREAD"]
    records = [_ttl_record(item, str(i)) for i, item in enumerate(others, 1)]
    records.append({**_ttl_record(_thread_item(store, VICTIM_THREAD), "99"),
                    "userIdentity": {"type": "Service", "principalId": "someone.else"}})
    assert handler({"Records": records}, LocalContext()) == {"batchItemFailures": []}
    assert raw.dump(store) == before


@pytest.mark.parametrize("content_type", [
    "text/html\r\nSet-Cookie: a=b", "text/plain\n", "image/png\x00", "", "png", "\u00e9/x",
    "a/" + "b" * 300,
])
def test_every_blob_store_refuses_a_content_type_a_header_cannot_carry(
    target: Any, content_type: str
) -> None:
    # What an archive's manifest, or a caller's attachment, hands the blob store.
    before = raw.dump(target)
    with pytest.raises(ValidationError):
        target.blobs.put("attachments/alice/t/x", b"<script>", content_type=content_type)
    assert raw.dump(target) == before
    uri = target.blobs.put("attachments/alice/t/x", b"ok", content_type="text/plain; charset=utf-8")
    stored_type = getattr(target.blobs, "content_type", None)
    if callable(stored_type):
        assert stored_type(uri) == "text/plain; charset=utf-8"


def test_an_erase_chased_by_a_writer_stops_with_a_retryable_error(
    target: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer that adds a thread each time the erase lists one: never empty.
    fill(target, "chased", 1)
    memory = target.memory
    original = memory.list_threads
    added = [0]

    def list_and_write(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("resource_id") == "chased":
            added[0] += 1
            memory.save_thread(make_thread("chased", created=1000 + added[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(memory, "list_threads", list_and_write)
    with pytest.raises(UnavailableError):
        target.erase_resource("chased", batch_size=1)
    assert added[0] < 30  # bounded: one listing for the first total, then EXTRA_ROUNDS
    monkeypatch.setattr(memory, "list_threads", original)
    target.erase_resource("chased")
    assert not any(holdings(target, "chased"))


# --- the erase and export routes ---------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The api handler over a store with a blob folder, under JWT; Alice and Bob in it."""
    from handlers import _wiring
    from tests.handlers import test_auth
    from tests.handlers.conftest import make_app

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("STOWAGE_AUTH", "jwt")
    monkeypatch.setenv("STOWAGE_JWT_ISSUER", test_auth.ISSUER)
    monkeypatch.setenv("STOWAGE_JWT_AUDIENCE", test_auth.AUDIENCE)
    monkeypatch.setenv("STOWAGE_JWT_SECRET", test_auth.SECRET)
    _wiring.reset()
    store = storage.CompositeStore(storage.open("memory://"),
                                   blobs=storage.open(f"file:///{tmp_path / 'blobs'}"))
    store.setup()
    seed(store, resource="alice", big=False)
    plant_victim(store)
    _wiring.use_app(make_app(store))
    yield store
    _wiring.reset()


def _as(sub: str) -> Any:
    from tests.handlers import test_auth
    from tests.handlers.conftest import call_api

    def send(method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {test_auth.token(sub)}",
                   **kwargs.pop("headers", {})}
        return call_api(method, path, headers=headers, **kwargs)
    return send


HOSTILE_BODIES = {
    "not JSON": "not json", "nested 10,000 deep": "[" * 10_000 + "]" * 10_000,
    "nested 100 deep": "[" * 100 + "]" * 100, "truncated": '{"resourceId": "bob"',
}


@pytest.mark.parametrize("route", [("DELETE", "/api/memory/resources/alice"),
                                   ("POST", "/api/memory/resources/alice/export")])
def test_a_route_without_a_body_answers_a_hostile_body_400_and_does_nothing(
    served: Any, route: tuple[str, str]
) -> None:
    before = raw.dump(served)
    for case, body in HOSTILE_BODIES.items():
        reply = _as("alice")(*route, raw=body)
        assert reply.status == 400, (case, reply.body)
        assert isinstance(reply.body.get("error"), str)
    assert raw.dump(served) == before  # nothing erased, no archive written


@pytest.mark.parametrize("spelling", ["ALICE", "alice%00", "alice%2F", "%20alice", "alice%20",
                                      "alice%2Fbob", "bob", "al%69ce%00"])
def test_a_jwt_caller_cannot_erase_or_export_through_a_variant_of_its_id(
    served: Any, spelling: str
) -> None:
    before = raw.dump(served)
    for method, path in (("DELETE", f"/api/memory/resources/{spelling}"),
                         ("POST", f"/api/memory/resources/{spelling}/export")):
        reply = _as("alice")(method, path)
        assert reply.status in (400, 404), (method, spelling, reply.status, reply.body)
    assert raw.dump(served) == before


def test_an_export_link_signs_one_key_only(served: Any) -> None:
    from urllib.parse import parse_qs, urlsplit

    alice = _as("alice")("POST", "/api/memory/resources/alice/export")
    bob = _as(VICTIM)("POST", f"/api/memory/resources/{VICTIM}/export")
    assert alice.status == bob.status == 200
    mine, theirs = urlsplit(alice.body["url"]), urlsplit(bob.body["url"])
    query = parse_qs(mine.query)
    key_of_bob = theirs.path.split("/api/blobs/", 1)[1]
    blobs = served.blobs
    assert blobs.verify_signature(mine.path.split("/api/blobs/", 1)[1], query["expires"][0],
                                  query["signature"][0])
    # Alice's signature on Bob's archive key (or any other) is refused
    for key in (key_of_bob, "exports/bob/", "attachments/bob/bob-thread/x",
                key_of_bob.replace("bob", "alice")):
        assert not blobs.verify_signature(key, query["expires"][0], query["signature"][0])


def test_the_chase_bound_lets_a_big_erase_finish_in_small_batches(target: Any) -> None:
    # More threads, runs, scores and traces than EXTRA_ROUNDS, one per round: the bound
    # comes from the first page's total, so a large resource is never cut short.
    from storage.lifecycle.erase import EXTRA_ROUNDS

    for n in range(1, EXTRA_ROUNDS + 6):
        fill(target, "big", n)
    receipt = target.erase_resource("big", batch_size=1)
    assert receipt.counts["threads"] == receipt.counts["runs"] == EXTRA_ROUNDS + 5
    assert not any(holdings(target, "big"))
