"""Import on every backend: refused archives write nothing; a killed import completes.

The target's full contents (``raw.dump``: every row, item and blob key) are compared
before and after a refused import, so a write that slipped through before the refusal
fails the test. Faults are injected after N writes of an import (every write method of
every domain counts); a rerun must leave exactly what a clean import leaves.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

import storage
from storage.errors import ArchiveError, ConflictError, MessageIdConflictError
from storage.keys import resource_attachment_prefix
from storage.lifecycle import export_resource, import_archive
from storage.records import Message
from tests.storage.conformance import raw
from tests.storage.conformance.archive_data import (
    ImportFault,
    Seeded,
    edit_record,
    fail_writes_after,
    rebuild,
    seed,
    snapshot,
)
from tests.storage.conformance.helpers import content, make_thread

ANY_MEMBER = "<any member>"


def _source(with_blobs: bool = True) -> Any:
    source = storage.open("memory://")
    if not with_blobs:
        source.blobs = None  # the dataset then has no attachment
    return source


def _export(source: Any, seeded: Seeded) -> bytes:
    out = io.BytesIO()
    export_resource(source, seeded.resource, out)
    return out.getvalue()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _flip_member(name: str) -> Callable[[dict[str, bytes]], None]:
    def change(parts: dict[str, bytes]) -> None:
        parts[name] = _flip(parts[name], len(parts[name]) // 2)
    return change


def _drop_blobs(parts: dict[str, bytes]) -> None:
    for name in [n for n in parts if n.startswith("blobs/")]:
        del parts[name]


def _manifest(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, bytes]], None]:
    def change(parts: dict[str, bytes]) -> None:
        body = json.loads(parts["manifest.json"])
        edit(body)
        parts["manifest.json"] = json.dumps(body).encode()
    return change


def _refusals(good: bytes) -> list[tuple[str, bytes, str | None]]:
    """``(case, archive bytes, the member the error must name)``."""
    blob = next(n for n in rebuild_names(good) if n.startswith("blobs/"))
    return [
        ("flipped byte in a record member",
         rebuild(good, _flip_member("records/messages.jsonl"), fix_manifest=False),
         "records/messages.jsonl"),
        ("flipped byte in a blob", rebuild(good, _flip_member(blob), fix_manifest=False), blob),
        ("flipped byte in the zip itself", _flip(good, len(good) // 3), ANY_MEMBER),
        ("a record failing validation", rebuild(good, lambda p: edit_record(
            p, "messages", lambda m: m.update(role="robot"))), "records/messages.jsonl"),
        ("a bad timestamp", rebuild(good, lambda p: edit_record(
            p, "threads", lambda t: t.update(created_at="yesterday"))), "records/threads.jsonl"),
        ("an unknown field", rebuild(good, lambda p: edit_record(
            p, "scores", lambda s: s.update(extra=1))), "records/scores.jsonl"),
        ("a thread of another resource", rebuild(good, lambda p: edit_record(
            p, "threads", lambda t: t.update(resource_id="mallory"))), "records/threads.jsonl"),
        ("a run of another resource", rebuild(good, lambda p: edit_record(
            p, "runs", lambda r: r.update(resource_id="mallory"))), "records/runs.jsonl"),
        ("a missing blob", rebuild(good, _drop_blobs), "records/messages.jsonl"),
        ("a manifest of another version", rebuild(
            good, _manifest(lambda m: m.update(version=99)), fix_manifest=False),
         "manifest.json"),
        ("a manifest that is not JSON", rebuild(
            good, lambda p: p.update({"manifest.json": b"{nope"}), fix_manifest=False),
         "manifest.json"),
        ("a member the manifest undersizes", rebuild(good, _manifest(
            lambda m: m["members"]["records/threads.jsonl"].update(size=10)),
            fix_manifest=False), "records/threads.jsonl"),
        ("a member not in the manifest", rebuild(
            good, lambda p: p.update({"records/evil.jsonl": b"{}\n"}), fix_manifest=False),
         "records/evil.jsonl"),
        ("no manifest", rebuild(good, lambda p: p.pop("manifest.json"), fix_manifest=False),
         None),
        ("not a zip", b"PK\x03\x04 not really", None),
    ]


def rebuild_names(data: bytes) -> list[str]:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


def test_a_refused_archive_writes_nothing(store: Any) -> None:
    source = _source()
    good = _export(source, seed(source))
    seed(store, big=False)  # the target is not empty
    before = raw.dump(store)
    for case, data, member in _refusals(good):
        with pytest.raises(ArchiveError) as caught:
            import_archive(store, io.BytesIO(data))
        if member != ANY_MEMBER:
            assert caught.value.member == member, case
        assert raw.dump(store) == before, case


def test_an_id_of_another_resource_in_the_target_is_refused(store: Any) -> None:
    source = _source(with_blobs=store.blobs is not None)
    seeded = seed(source, big=store.blobs is not None)
    data = _export(source, seeded)
    # Given the target holds one of the archive's thread ids, for another resource
    thread = snapshot(source, seeded.resource)["threads"][0]
    store.memory.save_thread(make_thread("mallory", thread_id=thread.id))
    before = raw.dump(store)
    with pytest.raises(ConflictError):
        import_archive(store, io.BytesIO(data))
    assert raw.dump(store) == before
    # And one of its message ids, in another thread
    store.memory.delete_thread(thread.id)
    message = snapshot(source, seeded.resource)["messages"][0]
    other = store.memory.save_thread(make_thread("mallory"))
    store.memory.save_messages([Message(id=message.id, thread_id=other.id, role="user",
                                        content=content("mine"))])
    before = raw.dump(store)
    with pytest.raises(MessageIdConflictError):
        import_archive(store, io.BytesIO(data))
    assert raw.dump(store) == before


@pytest.mark.parametrize("writes", [0, 1, 3, 5, 8])  # an import makes 10 writes or more
def test_an_import_killed_after_n_writes_completes_on_rerun(store: Any, writes: int) -> None:
    source = _source(with_blobs=store.blobs is not None)
    seeded = seed(source, big=store.blobs is not None)
    data = _export(source, seeded)
    bystander = seed(store, big=False)
    others = raw.mentioning(store, bystander.resource, bystander.other)
    # When the import dies after `writes` writes
    with pytest.raises(ImportFault), fail_writes_after(store, writes):
        import_archive(store, io.BytesIO(data))
    # Then a rerun completes it
    receipt = import_archive(store, io.BytesIO(data))
    assert snapshot(store, seeded.resource) == snapshot(source, seeded.resource)
    # and nothing is duplicated: totals, blobs, and a third run changes nothing
    for thread in snapshot(store, seeded.resource)["threads"]:
        assert store.memory.list_messages(thread.id, per_page=0).total == len(
            source.memory.list_messages(thread.id, per_page=None).items)
    if store.blobs is not None:
        prefix = resource_attachment_prefix(seeded.resource)
        keys = [k for k in raw.blob_keys(store.blobs) if prefix in k and not k.startswith(".")]
        assert len(keys) == receipt.counts["blobs"] == 1
    # (a rerun rewrites bookkeeping columns such as a row's "updatedAt": count the rows)
    mine = raw.mentioning(store, seeded.resource)
    import_archive(store, io.BytesIO(data))
    assert len(raw.mentioning(store, seeded.resource)) == len(mine)
    assert snapshot(store, seeded.resource) == snapshot(source, seeded.resource)
    # and the other resources are as they were
    assert raw.mentioning(store, bystander.resource, bystander.other) == others
