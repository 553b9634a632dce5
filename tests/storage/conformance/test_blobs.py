"""Blobs: put, get, open, delete, delete_prefix, url_for, binary and streaming."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import storage
from storage.blob_uris import attachment_key_of
from storage.keys import attachment_key, thread_attachment_prefix
from tests.storage.blob_tricks import dressed_up
from tests.storage.conformance.backends import Backend
from tests.storage.conformance.helpers import conversation, new_thread, uid

MB = 1024 * 1024


@pytest.fixture
def blobs(store: Any) -> Any:
    if getattr(store, "blobs", None) is None:
        pytest.skip("this backend has no blob store")
    return store.blobs


def _key(name: str = "blob") -> str:
    return f"tests/{uid(name)}"


def test_put_then_get(blobs: Any) -> None:
    uri = blobs.put(_key(), b"hello blob", content_type="text/plain")
    assert isinstance(uri, str) and "://" in uri
    assert blobs.get(uri) == b"hello blob"


def test_every_byte_value_round_trips(blobs: Any) -> None:
    payload = bytes(range(256)) * 4
    uri = blobs.put(_key("binary"), payload, content_type="application/octet-stream")
    assert blobs.get(uri) == payload
    with blobs.open(uri) as stream:
        assert stream.read() == payload


def test_put_from_a_file_object(blobs: Any) -> None:
    uri = blobs.put(_key(), io.BytesIO(b"from a file"))
    assert blobs.get(uri) == b"from a file"


def test_empty_blob_round_trips(blobs: Any) -> None:
    uri = blobs.put(_key("empty"), b"")
    assert blobs.get(uri) == b""


def test_put_same_key_overwrites(blobs: Any) -> None:
    key = _key()
    first = blobs.put(key, b"one")
    second = blobs.put(key, b"two")
    assert blobs.get(second) == b"two"
    if first == second:
        assert blobs.get(first) == b"two"


def test_different_keys_get_different_uris(blobs: Any) -> None:
    a = blobs.put(_key("a"), b"same bytes")
    b = blobs.put(_key("b"), b"same bytes")
    assert a != b
    blobs.delete([a])
    assert blobs.get(b) == b"same bytes"


def test_delete_and_unknown_uris(blobs: Any) -> None:
    uri = blobs.put(_key(), b"doomed")
    blobs.delete([uri])
    with pytest.raises(storage.NotFoundError):
        blobs.get(uri)
    with pytest.raises(storage.NotFoundError):
        blobs.open(uri)
    blobs.delete([uri])  # already gone: a no-op
    blobs.delete([])


def test_delete_prefix_deletes_only_under_it(blobs: Any) -> None:
    base = _key("prefix")
    inside = [blobs.put(f"{base}/x/{i}", b"in") for i in range(3)]
    sibling = blobs.put(f"{base}/y/0", b"out")
    lookalike = blobs.put(f"{base}/xx", b"out")
    blobs.delete_prefix(f"{base}/x/")
    for uri in inside:
        with pytest.raises(storage.NotFoundError):
            blobs.get(uri)
    assert blobs.get(sibling) == b"out"
    assert blobs.get(lookalike) == b"out"


def test_url_for_gives_a_url(blobs: Any) -> None:
    uri = blobs.put(_key(), b"downloadable", content_type="text/plain")
    url = blobs.url_for(uri, expires_in=60)
    assert url.split(":", 1)[0] in ("http", "https", "data")
    if url.startswith("data:"):
        assert base64.b64decode(url.split(",", 1)[1]) == b"downloadable"


def test_uri_of_another_scheme_is_refused(blobs: Any) -> None:
    with pytest.raises(storage.ValidationError):
        blobs.get("gopher://nowhere/blob")


def test_delete_thread_deletes_its_attachments(store: Any, blobs: Any) -> None:
    if getattr(store, "memory", None) is None:
        pytest.skip("this backend has no memory domain")
    thread = new_thread(store.memory)
    other = new_thread(store.memory, thread.resource_id)
    conversation(store.memory, thread.id, 2)
    mine = blobs.put(attachment_key(thread.resource_id, thread.id, "a" * 64), b"img")
    theirs = blobs.put(attachment_key(other.resource_id, other.id, "a" * 64), b"img")
    assert thread_attachment_prefix(thread.resource_id, thread.id) in mine
    store.memory.delete_thread(thread.id)
    with pytest.raises(storage.NotFoundError):
        blobs.get(mine)
    assert blobs.get(theirs) == b"img"


def test_twenty_megabytes_stream_through(
    blobs: Any, backend: Backend, tmp_path: Path
) -> None:
    size = 20 * MB
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(size // MB):
            chunk = os.urandom(MB)
            digest.update(chunk)
            out.write(chunk)

    tracemalloc.start()
    try:
        with source.open("rb") as data:
            uri = blobs.put(_key("big"), data, content_type="application/octet-stream")
        read_back = hashlib.sha256()
        total = 0
        with blobs.open(uri) as stream:
            while chunk := stream.read(MB):
                read_back.update(chunk)
                total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total == size
    assert read_back.hexdigest() == digest.hexdigest()
    # Streaming backends never hold the blob whole; memory-resident ones hold it once
    # (plus the chunks it was assembled from), never twice over for the read.
    bound = 0.5 * size if backend.has("streaming_blobs") else 2.5 * size
    assert peak < bound, f"peak {peak / MB:.1f} MB for a {size / MB:.0f} MB blob"


@pytest.mark.parametrize("key", ["", "   ", "/absolute", "a/../b", "a//b", "./a", "a/.", "trail/"])
def test_bad_keys_are_refused(blobs: Any, key: str) -> None:
    with pytest.raises(storage.ValidationError):
        blobs.put(key, b"x")


def test_bad_prefixes_are_refused_and_nothing_deleted(blobs: Any) -> None:
    uri = blobs.put(_key("kept"), b"kept")
    for prefix in ("", "../", "/"):
        with pytest.raises(storage.ValidationError):
            blobs.delete_prefix(prefix)
    assert blobs.get(uri) == b"kept"


# --- blob URIs: one parser, ownership by key (issue 11, item 4) ----------------------------

ALICE_BYTES, BOB_BYTES = b"alice's own bytes", b"bob's private bytes"


def test_key_of_is_the_inverse_of_put(blobs: Any) -> None:
    for key in (attachment_key("user@example.com", "t 1/x", "a" * 64),
                attachment_key("50%", "ü漢", "b" * 64), f"tests/{uid()}/with%20percent"):
        uri = blobs.put(key, b"x")
        assert blobs.key_of(uri) == key
        assert blobs.uri_for(key) == uri


def test_no_dressed_up_uri_reads_another_resources_attachment(blobs: Any) -> None:
    # Given Bob's attachment and Alice's
    bob_key = attachment_key("bob", "t-b", hashlib.sha256(BOB_BYTES).hexdigest())
    bob_uri = blobs.put(bob_key, BOB_BYTES, content_type="text/plain")
    blobs.put(attachment_key("alice", "t-a", "c" * 64), ALICE_BYTES)
    assert attachment_key_of(blobs, bob_uri, "bob") == bob_key
    with pytest.raises(storage.ValidationError):
        attachment_key_of(blobs, bob_uri, "alice")
    for trick in dressed_up(bob_uri):
        # Then no spelling is Alice's attachment while reading Bob's bytes ...
        try:
            accepted_for_alice = attachment_key_of(blobs, trick, "alice") is not None
        except storage.ValidationError:
            accepted_for_alice = False
        try:
            data: bytes | None = blobs.get(trick)
        except storage.StorageError:
            data = None
        assert not (accepted_for_alice and data == BOB_BYTES), trick
        # ... and whatever a URI reads is the key the check saw
        if data is not None:
            assert blobs.key_of(trick) == bob_key, trick
            with pytest.raises(storage.ValidationError):
                attachment_key_of(blobs, trick, "alice")


@pytest.mark.parametrize("suffix", ["?/attachments/alice/", "#frag", "?"])
def test_a_query_or_fragment_is_refused_not_ignored(blobs: Any, suffix: str) -> None:
    uri = blobs.put(attachment_key("bob", "t-b", "d" * 64), BOB_BYTES)
    for call in (blobs.key_of, blobs.get, blobs.open, lambda u: blobs.url_for(u),
                 lambda u: blobs.delete([u])):
        with pytest.raises(storage.ValidationError):
            call(uri + suffix)
    assert blobs.get(uri) == BOB_BYTES  # the delete refused above removed nothing


@pytest.mark.parametrize("key", ["a?b", "a#b", "a\x00b", "a\nb", "x" * 1025, "a/ /b"])
def test_keys_a_uri_could_not_name_are_refused(blobs: Any, key: str) -> None:
    with pytest.raises(storage.ValidationError):
        blobs.put(key, b"x")
