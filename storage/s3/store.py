"""``S3BlobStore``: blobs under a bucket prefix, encrypted, streamed, presigned.

Every put asks for server-side encryption (``AES256``, or ``aws:kms`` with a key),
so an object is encrypted even in a bucket without default encryption. Puts and gets
stream (``upload_fileobj``, the ``StreamingBody``); deletes go 1,000 keys a request
(S3's DeleteObjects limit); presigned URLs use SigV4, which every region accepts.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO, cast
from urllib.parse import SplitResult, unquote

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from storage.blob_uris import check_blob_key, check_content_type, split_blob_uri
from storage.errors import NotFoundError, StorageError, UnavailableError, ValidationError
from storage.keys import attachment_key

log = logging.getLogger(__name__)

OPTIONS = ("region", "endpoint", "kms_key")
DELETE_LIMIT = 1000
# One 5 MiB part in memory at a time (S3's smallest part): a Lambda can stream a blob
# of any size through a fixed few MB; s3transfer grows parts past 10,000 of them.
TRANSFER = TransferConfig(
    multipart_threshold=8 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, use_threads=False
)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
# AWS's naming rules for buckets created today ("General purpose bucket naming rules").
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket(bucket: object) -> str:
    """A bucket name S3 accepts today, checked before any request is made.

    Raises:
        ValidationError: the name breaks S3's naming rules (3-63 characters of a-z, 0-9,
            ``.`` and ``-``, a letter or digit at each end, no ``..``, not an IP address).
    """
    if (
        not isinstance(bucket, str)
        or not _BUCKET.match(bucket)
        or ".." in bucket
        or _IP_LIKE.match(bucket)
        or bucket.startswith(_RESERVED_PREFIXES)
        or bucket.endswith(_RESERVED_SUFFIXES)
    ):
        raise ValidationError(
            f"S3 bucket name {bucket!r} is not valid: 3-63 characters of a-z, 0-9, '.' and "
            "'-', starting and ending with a letter or digit"
        )
    return bucket


class S3BlobStore:
    """Blobs in ``s3://<bucket>/<prefix>/<key>`` (see :class:`~storage.protocols.BlobStore`).

    Args:
        bucket: the bucket.
        prefix: every key lives under it (``""`` for the bucket root).
        region: AWS region (the environment's when ``None``).
        endpoint: an S3 endpoint URL (a moto server, MinIO).
        kms_key_id: encrypt with this KMS key (``aws:kms``) instead of ``AES256``.
        client: an injected boto3 S3 client.
        transfer: multipart settings for puts (default: 5 MiB parts, one at a time).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        region: str | None = None,
        endpoint: str | None = None,
        kms_key_id: str | None = None,
        client: Any = None,
        transfer: TransferConfig | None = None,
    ) -> None:
        self.bucket = check_bucket(bucket)
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_blob_key(self.prefix)
        self.region = region
        self.kms_key_id = kms_key_id
        self.transfer = transfer or TRANSFER
        self.client = client or boto3.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint,
            # moto and old regions presign SigV2 unless told; SigV4 works everywhere.
            config=Config(signature_version="s3v4", retries={"mode": "adaptive"}),
        )

    # --- keys and URIs ---------------------------------------------------------------

    def _full_key(self, key: str, *, prefix: bool = False) -> str:
        check_blob_key(key, prefix=prefix)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        """The URI a key is stored under."""
        return f"s3://{self.bucket}/{self._full_key(key)}"

    def key_of(self, uri: str) -> str:
        """The key (relative to the prefix) of one of this store's URIs.

        ``s3://<bucket>/<prefix>/<key>``, the key as written (S3 keys are not
        percent-decoded); split by :func:`storage.blob_uris.split_blob_uri`.

        Raises:
            ValidationError: not an ``s3://`` URI under this bucket and prefix.
        """
        parts = split_blob_uri(uri)
        root = f"{self.prefix}/" if self.prefix else ""
        if parts.scheme != "s3" or parts.host != self.bucket or not parts.path.startswith(root):
            raise ValidationError(f"{uri!r} is not a blob of s3://{self.bucket}/{root}")
        return check_blob_key(parts.path[len(root) :])

    # --- BlobStore -----------------------------------------------------------------------

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> str:
        """Upload (streamed, multipart when large), encrypted. Returns the blob URI."""
        full = self._full_key(key)
        check_content_type(content_type)
        body: BinaryIO
        if isinstance(data, bytes | bytearray | memoryview):
            body = io.BytesIO(bytes(data))
        elif hasattr(data, "read"):
            body = data
        else:
            raise ValidationError("blob data must be bytes or a binary file object")
        extra = self._encryption()
        if content_type:
            extra["ContentType"] = content_type
        try:
            self.client.upload_fileobj(
                body, self.bucket, full, ExtraArgs=extra, Config=self.transfer
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, full) from exc
        return f"s3://{self.bucket}/{full}"

    def put_attachment(
        self, resource_id: str, thread_id: str, data: bytes, *, content_type: str | None = None
    ) -> str:
        """Store an attachment content-addressed (``attachments/<res>/<thread>/<sha256>``)."""
        key = attachment_key(resource_id, thread_id, hashlib.sha256(data).hexdigest())
        return self.put(key, data, content_type=content_type)

    def get(self, uri: str) -> bytes:
        """The blob's bytes.

        Raises:
            NotFoundError: no such blob.
            ValidationError: the URI is not one of this store's.
        """
        with self.open(uri) as handle:
            return handle.read()

    def open(self, uri: str) -> BinaryIO:
        """A streaming reader (botocore's ``StreamingBody``); close it when done."""
        full = self._full_key(self.key_of(uri))
        try:
            out = self.client.get_object(Bucket=self.bucket, Key=full)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, full) from exc
        return cast(BinaryIO, out["Body"])

    def content_type(self, uri: str) -> str | None:
        """The stored Content-Type, or ``None``."""
        full = self._full_key(self.key_of(uri))
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=full)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, full) from exc
        value = head.get("ContentType")
        return str(value) if value else None

    def delete(self, uris: Sequence[str]) -> None:
        """Delete blobs, 1,000 keys a DeleteObjects request; unknown ones are ignored."""
        if isinstance(uris, str):
            raise ValidationError("delete takes a list of URIs, not a single string")
        keys = [self._full_key(self.key_of(u)) for u in uris]
        self._delete_keys(keys)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob whose key starts with ``prefix`` (paginated ListObjectsV2)."""
        full = self._full_key(prefix, prefix=True)
        self._delete_keys(list(self._list(full)))

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key starting with ``prefix`` (relative to the store's prefix), in S3's
        order (sorted), one ListObjectsV2 page at a time."""
        full = self._full_key(prefix, prefix=True)
        root = f"{self.prefix}/" if self.prefix else ""
        for key in self._list(full):
            yield key[len(root):]

    def _list(self, full_prefix: str) -> Iterator[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full_prefix
            )
            for page in pages:
                for entry in page.get("Contents", []):
                    yield entry["Key"]
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, full_prefix) from exc

    def _delete_keys(self, keys: list[str]) -> None:
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), DELETE_LIMIT):
            chunk = unique[start : start + DELETE_LIMIT]
            try:
                out = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                raise _translate(exc, chunk[0]) from exc
            errors = out.get("Errors") or []
            if errors:
                raise UnavailableError(f"S3 could not delete {len(errors)} objects: {errors[0]}")

    def url_for(self, uri: str, *, expires_in: int = 900) -> str:
        """A SigV4-presigned GET URL valid for ``expires_in`` seconds (at most 7 days)."""
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise ValidationError("expires_in must be a whole number of seconds")
        if not 0 < expires_in <= 604_800:
            raise ValidationError("expires_in must be 1 second to 7 days")
        full = self._full_key(self.key_of(uri))
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": full}, ExpiresIn=expires_in
        )
        return url

    def presigned_post(
        self,
        key: str,
        max_bytes: int,
        content_type: str,
        *,
        expires_in: int = 900,
    ) -> dict[str, Any]:
        """A presigned POST for a browser to upload one object straight to S3.

        S3 refuses the upload unless its size is 1..``max_bytes`` and its
        Content-Type is exactly ``content_type``; the object is encrypted like a put.

        Returns:
            ``{"url", "fields", "key", "uri"}``: POST ``fields`` plus the file to ``url``.
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValidationError("max_bytes must be a positive integer")
        if not isinstance(content_type, str):
            raise ValidationError("content_type must be a non-empty string")
        check_content_type(content_type)
        full = self._full_key(key)
        fields: dict[str, str] = {"Content-Type": content_type}
        conditions: list[Any] = [
            ["content-length-range", 1, max_bytes],
            {"Content-Type": content_type},
        ]
        for name, value in self._encryption().items():
            header = _SSE_FIELDS[name]
            fields[header] = value
            conditions.append({header: value})
        post: dict[str, Any] = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=full,
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=expires_in,
        )
        return {**post, "key": key, "uri": f"s3://{self.bucket}/{full}"}

    def _encryption(self) -> dict[str, str]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    # --- lifecycle -----------------------------------------------------------------------

    def setup(self) -> None:
        """Create the bucket if it does not exist (deployed stacks create it in CDK)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise _translate(exc, self.bucket) from exc
        except BotoCoreError as exc:
            raise _translate(exc, self.bucket) from exc
        region = self.region or self.client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, self.bucket) from exc

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"


_SSE_FIELDS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
}


def _translate(exc: Exception, key: str) -> StorageError:
    if isinstance(exc, ParamValidationError):
        # botocore refused the request before sending it: the caller's input is wrong.
        return ValidationError(f"S3 request for {key!r} is not valid: {exc}")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return NotFoundError(f"no blob {key!r}")
        if code in ("InvalidBucketName", "KeyTooLongError", "InvalidArgument"):
            return ValidationError(f"S3 refused {key!r}: {code}")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StorageError(f"S3 refused access to {key!r}: {code}")
        return UnavailableError(f"S3 request for {key!r} failed ({code})")
    return UnavailableError(f"S3 request for {key!r} failed: {exc}")


class S3Store:
    """The store ``s3://`` URLs open: only the ``blobs`` domain."""

    memory = None
    workflows = None
    observability = None
    scores = None

    def __init__(self, blobs: S3BlobStore) -> None:
        self.blobs = blobs

    def setup(self) -> None:
        """Create the bucket if missing."""
        self.blobs.setup()

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"S3Store({self.blobs!r})"


def open_url(parsed: SplitResult) -> S3Store:
    """``s3://<bucket>/<prefix>?region=&endpoint=&kms_key=``."""
    from storage.urls import url_options

    params = url_options(parsed, OPTIONS)
    return S3Store(
        S3BlobStore(
            parsed.netloc,
            unquote(parsed.path),
            region=params.get("region") or None,
            endpoint=params.get("endpoint") or None,
            kms_key_id=params.get("kms_key") or None,
        )
    )
