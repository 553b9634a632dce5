"""Red team of the data-lifecycle features (issue 16): import, erase, export, expiry, prune.

Every refused import is checked against the target's full raw contents (``raw.dump``:
every row, item and blob key, read below the API), so a write that slipped through
before the refusal fails the test. Archives are forged with valid checksums and counts
(``with_manifest``) so that only the planted fault is wrong.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storage
from storage.errors import (
    ArchiveError,
    ConflictError,
    StorageError,
    UnavailableError,
    ValidationError,
)
from storage.keys import resource_attachment_prefix
from storage.lifecycle import import_archive
from storage.lifecycle.__main__ import main as lifecycle_cli
from storage.lifecycle.inventory import ResourceInventory
from storage.records import Message, Score, Span
from tests.reliability.lifecycle_hostile import (
    VICTIM,
    VICTIM_BYTES,
    VICTIM_THREAD,
    good_archive,
    manifest_for,
    nested,
    plant_victim,
    set_first_attachment,
    with_manifest,
    zip_of,
)
from tests.storage.blob_tricks import dressed_up
from tests.storage.conformance import raw
from tests.storage.conformance.archive_data import members, seed, snapshot
from tests.storage.conformance.backends import BACKENDS, Backend
from tests.storage.conformance.helpers import at, content, make_message, make_thread

# Backends with a blob store, one of each kind (memory, a folder, S3).
BLOB_BACKENDS = [b for b in BACKENDS if b.name in ("memory", "sqlite+files", "dynamodb+s3")]


@pytest.fixture(params=[pytest.param(b, id=b.name, marks=b.marks) for b in BLOB_BACKENDS])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    backend: Backend = request.param
    with backend.factory(tmp_path) as opened:
        yield opened


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


# --- import: links to another tenant's blobs ------------------------------------------------


def test_an_archive_cannot_link_a_resource_to_another_tenants_blob(target: Any) -> None:
    good, seeded = good_archive()
    bob = plant_victim(target)
    for spelling in [bob, *dressed_up(bob)]:
        data = with_manifest(good, set_first_attachment(spelling))
        try:
            receipt = import_archive(target, io.BytesIO(data))
        except (ArchiveError, ValidationError):
            continue  # refused: fine, and checked below that nothing was written
        # Accepted: only a value the target cannot read as one of its blobs is kept.
        assert receipt.resource_id == seeded.resource
        for message in snapshot_messages(target, seeded.resource):
            for value in _strings(message.content):
                try:
                    key = target.blobs.key_of(value)
                except ValidationError:
                    continue
                assert key.startswith(resource_attachment_prefix(seeded.resource)), spelling
        target.erase_resource(seeded.resource)
    # Bob's attachment is where it was, and no one else's message names it
    assert target.blobs.get(bob) == VICTIM_BYTES
    assert not [line for line in raw.dump(target) if bob in line and VICTIM_THREAD not in line
                and "blob:" not in line]


def test_the_plain_uri_of_another_tenants_blob_is_refused_before_any_write(
    target: Any, good: bytes
) -> None:
    bob = plant_victim(target)
    for place in ("file part", "attachment", "text"):
        def change(parts: dict[str, bytes], place: str = place) -> None:
            name = "records/messages.jsonl"
            lines = parts[name].decode().splitlines()
            body = json.loads(lines[0])
            if place == "file part":
                set_first_attachment(bob)(parts)
                return
            if place == "attachment":
                body["content"]["experimental_attachments"] = [
                    {"name": "x", "contentType": "text/plain", "url": bob}]
            else:
                body["content"]["metadata"] = {"nested": [{"uri": bob}]}
            lines[0] = json.dumps(body)
            parts[name] = ("\n".join(lines) + "\n").encode()

        error = _refused(target, with_manifest(good, change))
        assert isinstance(error, ArchiveError) and error.member == "records/messages.jsonl"


def snapshot_messages(store: Any, resource: str) -> list[Message]:
    inv = ResourceInventory(store, resource)
    return [m for t in inv.threads() for m in inv.messages(t.id)]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# --- import: malformed JSON ------------------------------------------------------------------


def test_a_manifest_nested_10000_deep_is_an_archive_error(good: bytes) -> None:
    parts = members(good)
    parts["manifest.json"] = nested(10_000)
    error = _refused(storage.open("memory://"), zip_of(list(parts.items())))
    assert isinstance(error, ArchiveError) and error.member == "manifest.json"
    # A manifest whose members or counts are deep objects, within the parser's reach
    body = json.loads(members(good)["manifest.json"])
    body["counts"]["threads"] = json.loads(nested(500))
    parts["manifest.json"] = json.dumps(body).encode()
    _refused(storage.open("memory://"), zip_of(list(parts.items())))


@pytest.mark.parametrize("domain", ["resources", "threads", "messages", "runs", "spans",
                                    "scores"])
def test_a_record_nested_10000_deep_is_an_archive_error(good: bytes, domain: str) -> None:
    def change(parts: dict[str, bytes]) -> None:
        parts[f"records/{domain}.jsonl"] = nested(10_000) + b"\n"
    error = _refused(storage.open("memory://"), with_manifest(good, change))
    assert isinstance(error, ArchiveError) and error.line == 1


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_in_records_and_manifest_are_refused(
    good: bytes, literal: bytes
) -> None:
    def in_score(parts: dict[str, bytes]) -> None:
        parts["records/scores.jsonl"] = parts["records/scores.jsonl"].replace(
            b'"score":0.75', b'"score":' + literal)
    def in_snapshot(parts: dict[str, bytes]) -> None:
        parts["records/runs.jsonl"] = parts["records/runs.jsonl"].replace(b"1.5", literal)
    for change in (in_score, in_snapshot):
        _refused(storage.open("memory://"), with_manifest(good, change))
    parts = members(good)
    parts["manifest.json"] = parts["manifest.json"].replace(b'"blobs":1', b'"blobs":' + literal)
    _refused(storage.open("memory://"), zip_of(list(parts.items())))


def test_text_no_backend_can_store_is_refused_in_every_field() -> None:
    good, _ = good_archive()
    for bad in ("a\x00b", "\ud800"):
        for domain in ("resources", "threads", "messages", "runs", "spans", "scores"):
            body = json.loads(members(good)[f"records/{domain}.jsonl"].splitlines()[0])
            for field in [f for f, v in body.items() if isinstance(v, str)
                          and not f.endswith("_at")]:
                def change(parts: dict[str, bytes], domain: str = domain,
                           field: str = field, bad: str = bad) -> None:
                    name = f"records/{domain}.jsonl"
                    lines = parts[name].decode().splitlines()
                    record = json.loads(lines[0])
                    record[field] = bad
                    lines[0] = json.dumps(record)  # \u escapes: valid JSON, bad text
                    parts[name] = ("\n".join(lines) + "\n").encode()
                _refused(storage.open("memory://"), with_manifest(good, change))


def test_a_line_that_is_not_utf8_is_refused(good: bytes) -> None:
    def change(parts: dict[str, bytes]) -> None:
        parts["records/threads.jsonl"] = parts["records/threads.jsonl"].replace(
            b"First", b"F\xff\xfe")
    error = _refused(storage.open("memory://"), with_manifest(good, change))
    assert isinstance(error, ArchiveError) and error.member == "records/threads.jsonl"


# --- import: zip structure -------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "../records/threads.jsonl", "/records/threads.jsonl", "records\\threads.jsonl",
    "records/../records/threads.jsonl", "records/threads.jsonl/", "C:/records/threads.jsonl",
    "blobs/../../etc/passwd", "blobs/" + "A" * 64, "records/threads.jsonl ",
])
def test_member_names_outside_the_format_are_refused(
    good: bytes, name: str, tmp_path: Path
) -> None:
    parts = members(good)
    # Listed in the manifest (with its true checksum) and present in the zip
    body = parts["records/threads.jsonl"]
    forged = dict(parts)
    forged[name] = body
    forged["manifest.json"] = manifest_for(forged, json.loads(parts["manifest.json"]))
    _refused(storage.open("memory://"), zip_of(list(forged.items())))
    # Present in the zip only
    _refused(storage.open("memory://"), zip_of([*parts.items(), (name, body)]))
    assert list(tmp_path.iterdir()) == []  # nothing is ever extracted


def test_duplicate_and_nul_member_names_are_refused(good: bytes) -> None:
    parts = members(good)
    threads = parts["records/threads.jsonl"]
    entries = list(parts.items())
    _refused(storage.open("memory://"), zip_of([*entries, ("records/threads.jsonl", threads)]))
    # zipfile cuts a name at NUL: "records/threads.jsonl\0x" reads as a second threads member
    _refused(storage.open("memory://"),
             zip_of([*entries, ("records/threads.jsonl\x00.evil", b"")]))
    _refused(storage.open("memory://"),
             zip_of([*entries, ("manifest.json", parts["manifest.json"])]))


def test_a_records_member_that_inflates_past_the_limit_is_refused_unread(
    good: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.lifecycle import archive_check

    monkeypatch.setattr(archive_check, "MAX_RECORDS_BYTES", 64 * 1024)
    # A records member of 1 MiB of spaces before one valid line: tiny compressed
    def change(parts: dict[str, bytes]) -> None:
        parts["records/threads.jsonl"] = b" " * (1024 * 1024) + parts["records/threads.jsonl"]
    data = with_manifest(good, change)
    assert len(data) < 20_000
    reads = _count_reads(monkeypatch)
    error = _refused(storage.open("memory://"), data)
    assert isinstance(error, ArchiveError) and error.member == "records/threads.jsonl"
    assert "records/threads.jsonl" not in reads  # refused from the directory, not inflated


def test_an_archive_inflating_far_beyond_its_size_is_refused(
    good: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.lifecycle import archive_check

    monkeypatch.setattr(archive_check, "RATIO_FLOOR_BYTES", 1024 * 1024)
    zeros = bytes(8 * 1024 * 1024)  # 8 MiB of zeros deflate to about 8 KiB
    import hashlib

    sha = hashlib.sha256(zeros).hexdigest()

    def change(parts: dict[str, bytes]) -> None:
        parts[f"blobs/{sha}"] = zeros
    data = with_manifest(good, change)
    assert len(data) < 100_000
    reads = _count_reads(monkeypatch)
    _refused(storage.open("memory://"), data)
    assert f"blobs/{sha}" not in reads


def test_more_members_than_the_format_allows_are_refused(
    good: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.lifecycle import archive_check

    monkeypatch.setattr(archive_check, "MAX_MEMBERS", 20)
    import hashlib

    def change(parts: dict[str, bytes]) -> None:
        for i in range(30):
            body = f"blob {i}".encode()
            parts[f"blobs/{hashlib.sha256(body).hexdigest()}"] = body
    error = _refused(storage.open("memory://"), with_manifest(good, change))
    assert "members" in str(error)


def test_a_manifest_declaring_huge_sizes_inflates_nothing(
    good: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = members(good)
    body = json.loads(parts["manifest.json"])
    body["members"]["records/threads.jsonl"]["size"] = 10**15
    parts["manifest.json"] = json.dumps(body).encode()
    data = zip_of(list(parts.items()))
    reads = _count_reads(monkeypatch)
    _refused(storage.open("memory://"), data)
    assert "records/threads.jsonl" not in reads


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the members the archive check opens (inflates)."""
    opened: list[str] = []
    original = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else str(name))
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return opened


# --- import: ids, resources and counts ---------------------------------------------------------


@pytest.mark.parametrize("resource", ["a/b", "../bob", "..", ".", "a%2Fb", "%", "_"])
def test_a_manifest_resource_id_cannot_escape_its_blob_prefix(
    target: Any, resource: str
) -> None:
    source = storage.CompositeStore(storage.open("memory://"), blobs=storage.open("memory://"))
    seeded = seed(source, resource=resource, big=False)
    out = io.BytesIO()
    storage.lifecycle.export_resource(source, resource, out)
    plant_victim(target)
    victim = raw.mentioning(target, VICTIM)
    receipt = import_archive(target, io.BytesIO(out.getvalue()))
    assert receipt.counts["blobs"] == 1
    keys = list(target.blobs.list_keys("attachments/"))
    prefix = resource_attachment_prefix(resource)
    assert len([k for k in keys if k.startswith(prefix)]) == 1
    assert [k for k in keys if not k.startswith(prefix)] == [
        k for k in keys if k.startswith(resource_attachment_prefix(VICTIM))]
    assert snapshot(target, resource) == snapshot(source, resource)
    # And erasing it takes exactly what it brought, whatever its id spells
    target.erase_resource(resource)
    assert raw.mentioning(target, VICTIM) == victim
    assert list(target.blobs.list_keys(prefix)) == []
    assert ResourceInventory(target, resource).resource() is None
    del seeded


def test_an_archive_thread_that_is_another_resources_thread_in_the_target_is_refused(
    target: Any,
) -> None:
    good, seeded = good_archive()
    thread = json.loads(members(good)["records/threads.jsonl"].splitlines()[0])
    target.memory.save_thread(make_thread(VICTIM, thread_id=thread["id"]))
    target.memory.save_messages([make_message(thread["id"], "bob's", created=3)])
    _refused(target, good, ConflictError)
    assert target.memory.get_thread(thread["id"]).resource_id == VICTIM
    del seeded


@pytest.mark.parametrize("domain", ["threads", "messages", "runs", "spans", "scores"])
def test_colliding_ids_inside_an_archive_are_refused(good: bytes, domain: str) -> None:
    def change(parts: dict[str, bytes]) -> None:
        name = f"records/{domain}.jsonl"
        first = parts[name].splitlines()[0]
        parts[name] = parts[name] + first + b"\n"
    _refused(storage.open("memory://"), with_manifest(good, change))


@pytest.mark.parametrize("what", ["threads", "blobs"])
def test_counts_that_disagree_with_the_members_are_refused(good: bytes, what: str) -> None:
    parts = members(good)
    body = json.loads(parts["manifest.json"])
    body["counts"][what] += 1
    parts["manifest.json"] = json.dumps(body).encode()
    _refused(storage.open("memory://"), zip_of(list(parts.items())))


@pytest.mark.parametrize("content_type", [
    "text/html\r\nSet-Cookie: a=b", "text/plain\x00", "x" * 5000, "", "no slash", "\u00e9/x",
])
def test_a_content_type_a_header_cannot_carry_is_refused(good: bytes, content_type: str) -> None:
    parts = members(good)
    body = json.loads(parts["manifest.json"])
    sha = next(iter(body["content_types"]))
    body["content_types"][sha] = content_type
    parts["manifest.json"] = json.dumps(body).encode()
    error = _refused(storage.open("memory://"), zip_of(list(parts.items())))
    assert isinstance(error, ArchiveError) and error.member == "manifest.json"


def test_the_cli_refuses_hostile_archives_with_status_2(
    good: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "t.db"
    hostile = {"deep.zip": zip_of([("manifest.json", nested(10_000))]),
               "bomb.zip": zip_of([("manifest.json", b" " * (17 * 1024 * 1024))]),
               "empty.zip": b"", "text.zip": b"not a zip at all"}
    for name, data in hostile.items():
        (tmp_path / name).write_bytes(data)
        status = lifecycle_cli(["import", "--store", f"sqlite:///{db}",
                                "--blobs", f"file:///{tmp_path / 'blobs'}",
                                "--archive", str(tmp_path / name)])
        err = capsys.readouterr().err
        assert status == 2, (name, err)
        assert err.startswith("refused: ") and "Traceback" not in err
    # Nothing was written: the database holds no resource at all
    opened = storage.open(f"sqlite:///{db}")
    opened.setup()
    assert opened.memory.list_threads(per_page=0).total == 0
    opened.close()


# --- erase -----------------------------------------------------------------------------------

# Ids a prefix, LIKE or glob match of one would take for another's.
LOOKALIKES = ["a", "a/b", "a%2Fb", "a*", "a%", "a_", "%", "_", "A", "a b", "a/", ".", ".."]


def _fill(store: Any, resource: str, n: int) -> None:
    thread = store.memory.save_thread(make_thread(resource, created=n))
    store.memory.save_messages([make_message(thread.id, f"secret {n}", created=n)])
    store.memory.update_resource(resource, working_memory=f"wm {n}")
    if store.workflows is not None:
        store.workflows.persist_snapshot("wf", f"run-{n}", {"n": n}, resource_id=resource)
    if store.scores is not None:
        store.scores.save_score(Score(id=f"score-{n}", scorer_id="s", score=1.0,
                                      run_id=f"run-{n}", created_at=at(n), resource_id=resource))
    if store.observability is not None:
        store.observability.create_spans([Span(
            trace_id=f"trace-{n}", span_id="root", name="x", span_type="agent_run",
            started_at=at(n), resource_id=resource)])
    if store.blobs is not None:
        from storage.keys import attachment_key

        store.blobs.put(attachment_key(resource, thread.id, f"{n:064x}"), b"x")


def _holdings(store: Any, resource: str) -> tuple[int, ...]:
    inv = ResourceInventory(store, resource)
    held = (int(inv.resource() is not None), len(list(inv.threads())), len(list(inv.runs())),
            len(list(inv.scores())), len(list(inv.traces())))
    if store.blobs is not None:
        held += (len(list(store.blobs.list_keys(resource_attachment_prefix(resource)))),)
    return held


@pytest.mark.parametrize("backend", [pytest.param(b, id=b.name, marks=b.marks)
                                     for b in BACKENDS])
def test_erasing_lookalike_ids_takes_nothing_of_another(backend: Backend, tmp_path: Path) -> None:
    victims = ["%", "_", "a*", "a%", "a/", ".."]
    with backend.factory(tmp_path) as store:
        for n, resource in enumerate(LOOKALIKES, 1):
            _fill(store, resource, n)
        expected = {r: _holdings(store, r) for r in LOOKALIKES}
        for victim in victims:
            store.erase_resource(victim)
        for resource in LOOKALIKES:
            held = _holdings(store, resource)
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
    _fill(store, "bystander", 1)
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
    _fill(store, "alice", 1)
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
    _fill(target, "chased", 1)
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
    assert not any(_holdings(target, "chased"))


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
        _fill(target, "big", n)
    receipt = target.erase_resource("big", batch_size=1)
    assert receipt.counts["threads"] == receipt.counts["runs"] == EXTRA_ROUNDS + 5
    assert not any(_holdings(target, "big"))
