"""Red team of the data-lifecycle features (issue 16): import, erase, export, expiry, prune.

Every refused import is checked against the target's full raw contents (``raw.dump``:
every row, item and blob key, read below the API), so a write that slipped through
before the refusal fails the test. Archives are forged with valid checksums and counts
(``with_manifest``) so that only the planted fault is wrong.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storage
from storage.errors import (
    ArchiveError,
    ConflictError,
    ValidationError,
)
from storage.keys import resource_attachment_prefix
from storage.lifecycle import import_archive
from storage.lifecycle.__main__ import main as lifecycle_cli
from storage.lifecycle.inventory import ResourceInventory
from storage.records import Message
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
from tests.storage.conformance.helpers import make_message, make_thread


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
