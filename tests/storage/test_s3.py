"""S3 blob store specifics under moto: encryption, prefixes, batching, presigning."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import moto
import pytest

import storage
from storage.errors import NotFoundError, ValidationError
from storage.s3.store import S3BlobStore


@pytest.fixture
def s3() -> Iterator[tuple[S3BlobStore, Counter[str]]]:
    with moto.mock_aws():
        opened = storage.open("s3://stowage-test/app/blobs?region=us-east-1")
        opened.setup()
        calls: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        opened.blobs.client.meta.events.register("before-call.s3.*", count)
        yield opened.blobs, calls


def test_keys_live_under_the_prefix_and_every_put_is_encrypted(s3: Any) -> None:
    blobs, _ = s3
    uri = blobs.put("a/b.txt", b"hello", content_type="text/plain")
    assert uri == "s3://stowage-test/app/blobs/a/b.txt"
    head = blobs.client.head_object(Bucket="stowage-test", Key="app/blobs/a/b.txt")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "text/plain"
    assert blobs.get(uri) == b"hello"


def test_a_kms_key_encrypts_with_kms() -> None:
    with moto.mock_aws():
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
        blobs = S3BlobStore("stowage-kms", region="us-east-1", kms_key_id=key)
        blobs.setup()
        blobs.put("k", b"x")
        head = blobs.client.head_object(Bucket="stowage-kms", Key="k")
        assert head["ServerSideEncryption"] == "aws:kms"
        assert key in head["SSEKMSKeyId"]


def test_reads_stream_and_missing_or_foreign_uris_are_typed_errors(s3: Any) -> None:
    blobs, _ = s3
    data = bytes(range(256)) * 4096
    uri = blobs.put("big.bin", data)
    with blobs.open(uri) as stream:
        first = stream.read(1000)
        rest = stream.read()
    assert first + rest == data
    with pytest.raises(NotFoundError):
        blobs.get(uri + "-missing")
    with pytest.raises(ValidationError):
        blobs.get("s3://other-bucket/app/blobs/big.bin")
    with pytest.raises(ValidationError):
        blobs.get("s3://stowage-test/app/elsewhere")


def test_attachments_are_content_addressed(s3: Any) -> None:
    blobs, _ = s3
    first = blobs.put_attachment("u 1", "t/1", b"image", content_type="image/png")
    again = blobs.put_attachment("u 1", "t/1", b"image", content_type="image/png")
    digest = hashlib.sha256(b"image").hexdigest()
    assert first == again == f"s3://stowage-test/app/blobs/attachments/u%201/t%2F1/{digest}"


def test_deletes_go_1000_keys_a_request_and_prefix_deletes_page_through(s3: Any) -> None:
    blobs, calls = s3
    uris = [blobs.put(f"many/{i:05d}", b"x") for i in range(1001)]
    keep = blobs.put("other/keep", b"k")
    calls.clear()
    blobs.delete_prefix("many/")
    assert calls["ListObjectsV2"] == 2  # 1,000 keys a page
    assert calls["DeleteObjects"] == 2  # 1,000 keys a request
    with pytest.raises(NotFoundError):
        blobs.get(uris[0])
    assert blobs.get(keep) == b"k"
    more = [blobs.put(f"x/{i}", b"y") for i in range(1001)]
    calls.clear()
    blobs.delete([*more, "s3://stowage-test/app/blobs/never-there"])
    assert calls["DeleteObjects"] == 2
    with pytest.raises(NotFoundError):
        blobs.get(more[-1])


def test_url_for_is_a_sigv4_presigned_get(s3: Any) -> None:
    blobs, _ = s3
    uri = blobs.put("doc.pdf", b"%PDF")
    url = blobs.url_for(uri, expires_in=120)
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path.endswith("/app/blobs/doc.pdf")
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["120"]
    with pytest.raises(ValidationError):
        blobs.url_for(uri, expires_in=0)


def test_presigned_post_bounds_size_and_content_type(s3: Any) -> None:
    blobs, _ = s3
    post = blobs.presigned_post("uploads/u1/photo", 5_000_000, "image/png")
    assert post["uri"] == "s3://stowage-test/app/blobs/uploads/u1/photo"
    fields = post["fields"]
    assert fields["key"] == "app/blobs/uploads/u1/photo"
    assert fields["Content-Type"] == "image/png"
    assert fields["x-amz-server-side-encryption"] == "AES256"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, 5_000_000] in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert {"x-amz-server-side-encryption": "AES256"} in conditions
    with pytest.raises(ValidationError):
        blobs.presigned_post("k", 0, "image/png")


def test_bad_keys_and_bad_data_are_refused(s3: Any) -> None:
    blobs, _ = s3
    for key in ("", "/abs", "a/../b", "a//b", "trail/"):
        with pytest.raises(ValidationError):
            blobs.put(key, b"x")
    with pytest.raises(ValidationError):
        blobs.put("k", "text is not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        blobs.delete("s3://stowage-test/app/blobs/k")  # type: ignore[arg-type]


def test_setup_creates_a_missing_bucket_in_its_region() -> None:
    with moto.mock_aws():
        blobs = S3BlobStore("stowage-eu", "p", region="eu-west-1")
        blobs.setup()
        blobs.setup()
        location = blobs.client.get_bucket_location(Bucket="stowage-eu")
        assert location["LocationConstraint"] == "eu-west-1"
