"""The ``file://`` blob store: streaming writes, containment, signed dev-server URLs."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

import storage
from storage import NotFoundError, ValidationError
from storage.files import FileBlobStore, FileStore
from storage.keys import attachment_key, thread_attachment_prefix
from storage.urls import project_root


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    store = storage.open(f"file:///{tmp_path / 'blobs'}")
    assert isinstance(store, FileStore)
    store.setup()
    return store.blobs


def test_relative_url_is_under_the_project_root() -> None:
    opened = storage.open("file:///.stowage/blobs")
    assert opened.blobs.root == project_root() / ".stowage" / "blobs"
    assert opened.memory is None and opened.scores is None


def test_put_get_round_trip_with_a_file_uri(blobs: FileBlobStore) -> None:
    uri = blobs.put("a/b/c.txt", b"hello", content_type="text/plain")
    assert uri == (blobs.root / "a" / "b" / "c.txt").as_uri()
    assert blobs.get(uri) == b"hello"
    assert blobs.content_type(uri) == "text/plain"
    assert blobs.key_of(uri) == "a/b/c.txt"


def test_put_streams_a_file_object_in_chunks(blobs: FileBlobStore) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)

    class Reader(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(payload)
            self.reads: list[int] = []

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.reads.append(size)
            return self.inner.read(size)

    reader = Reader()
    uri = blobs.put("big.bin", reader)  # type: ignore[arg-type]
    assert all(0 < size <= 1024 * 1024 for size in reader.reads)  # never read whole
    with blobs.open(uri) as handle:
        assert handle.read(10) == payload[:10]
        handle.seek(0)
        assert handle.read() == payload
    assert not [p for p in blobs.root.iterdir() if p.name.startswith(".tmp-")]


def test_a_failed_write_leaves_the_old_blob_and_no_temp_file(blobs: FileBlobStore) -> None:
    uri = blobs.put("k", b"old")

    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            raise OSError("disk on fire")

    with pytest.raises(storage.StorageError):
        blobs.put("k", Broken())  # type: ignore[arg-type]
    assert blobs.get(uri) == b"old"
    assert [p.name for p in blobs.root.iterdir() if p.name.startswith(".tmp-")] == []


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../escape", "/etc/passwd", "a//b", "./a", "", "a\\b", ".stowage-secret"],
)
def test_keys_never_escape_the_root(blobs: FileBlobStore, key: str) -> None:
    with pytest.raises(ValidationError):
        blobs.put(key, b"x")


def test_a_symlink_out_of_the_root_is_refused(blobs: FileBlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (blobs.root / "link").symlink_to(outside)
    with pytest.raises(ValidationError):
        blobs.put("link/x", b"x")
    assert not (outside / "x").exists()


def test_foreign_uris_are_refused(blobs: FileBlobStore, tmp_path: Path) -> None:
    for uri in ["s3://bucket/k", (tmp_path / "elsewhere").as_uri(), "file://host/x"]:
        with pytest.raises(ValidationError):
            blobs.get(uri)


def test_missing_blob_is_not_found_and_delete_ignores_it(blobs: FileBlobStore) -> None:
    uri = blobs.root.joinpath("nope").as_uri()
    with pytest.raises(NotFoundError):
        blobs.get(uri)
    blobs.delete([uri])  # no error


def test_delete_prefix_takes_only_that_thread(blobs: FileBlobStore) -> None:
    mine = [blobs.put(attachment_key("u", "t1", h * 64), b"1") for h in "ab"]
    other = blobs.put(attachment_key("u", "t10", "c" * 64), b"2")
    blobs.delete_prefix(thread_attachment_prefix("u", "t1"))
    for uri in mine:
        with pytest.raises(NotFoundError):
            blobs.get(uri)
    assert blobs.get(other) == b"2"
    assert not (blobs.root / "attachments" / "u" / "t1").exists()
    with pytest.raises(ValidationError):
        blobs.delete_prefix("")


def test_url_for_is_signed_and_verifiable(
    blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOWAGE_PUBLIC_URL", "http://localhost:9999/")
    key = attachment_key("user 1", "t/1", "ab" * 32)
    uri = blobs.put(key, b"img")
    url = urlsplit(blobs.url_for(uri, expires_in=60))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.netloc == "localhost:9999"
    assert url.path.startswith("/api/blobs/")
    served_key = unquote(url.path.removeprefix("/api/blobs/"))
    assert served_key == key
    assert abs(int(query["expires"]) - (time.time() + 60)) < 5
    assert blobs.verify_signature(served_key, query["expires"], query["signature"])
    assert not blobs.verify_signature(served_key + "x", query["expires"], query["signature"])
    assert not blobs.verify_signature(served_key, str(int(query["expires"]) + 1),
                                      query["signature"])
    assert not blobs.verify_signature(served_key, "1", query["signature"])  # expired


def test_the_secret_is_shared_through_the_folder(
    blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOWAGE_BLOB_URL_SECRET", raising=False)
    uri = blobs.put("k", b"x")
    query: dict[str, Any] = parse_qs(urlsplit(blobs.url_for(uri)).query)
    secret_file = blobs.root / ".stowage-secret"
    assert secret_file.is_file() and oct(secret_file.stat().st_mode & 0o777) == "0o600"
    other_process = FileBlobStore(blobs.root)  # another process opening the same folder
    assert other_process.verify_signature("k", query["expires"][0], query["signature"][0])
    monkeypatch.setenv("STOWAGE_BLOB_URL_SECRET", "from-env")
    env_store = FileBlobStore(blobs.root)
    assert not env_store.verify_signature("k", query["expires"][0], query["signature"][0])


def test_sign_is_what_verify_signature_accepts(
    blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expires = int(time.time()) + 60
    signature = blobs.sign("upload\nk\nimage/png\n100", expires)
    assert blobs.verify_signature("upload\nk\nimage/png\n100", expires, signature)
    assert not blobs.verify_signature("upload\nk\nimage/png\n101", expires, signature)
    monkeypatch.delenv("STOWAGE_PUBLIC_URL", raising=False)
    assert blobs.public_url == "http://127.0.0.1:4111"
    explicit = storage.open(f"file:///{tmp_path / 'b2'}?public_url=https://dev.example/x/").blobs
    assert explicit.public_url == "https://dev.example/x"

