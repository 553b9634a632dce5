"""``storage.open(url)`` refuses what it cannot honour, clearly and at once (issue 11).

Misspelled options were ignored, a bad S3 bucket surfaced a raw botocore error, a
missing PostgreSQL database cost a 10 s pool timeout that lost the reason, and an
absolute SQLite path in a missing folder created that folder at the filesystem root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storage
from storage import StorageError, UnavailableError, ValidationError
from storage.s3.store import S3BlobStore, check_bucket
from tests.storage.fakes import pg

# --- unknown options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("memory://?x=1", "'x'"),
        ("sqlite:///{tmp}/x.db?timout=5", "'timout'"),
        ("sqlite:///{tmp}/x.db?timeout=5&Timeout=6&busy=1", "'Timeout', 'busy'"),
        ("file:///{tmp}/blobs?publicurl=http://x", "'publicurl'"),
        ("dynamodb://app?regoin=us-east-1", "'regoin'"),
        ("dynamodb://app?region=us-east-1&offload_treshold=2048", "'offload_treshold'"),
        ("s3://app-bucket/p?regoin=us-east-1", "'regoin'"),
        ("s3://app-bucket/p?kms=alias/x", "'kms'"),
        ("postgresql://postgres@127.0.0.1:5432/db?timout=5", "'timout'"),
        ("postgres://postgres@127.0.0.1:5432/db?pool=true&max_sise=3", "'max_sise'"),
        ("postgres+data-api://arn:aws:rds:us-east-1:1:cluster:c?secret=arn:s&database=d&regin=x",
         "'regin'"),
    ],
)
def test_unknown_options_are_refused_by_name(tmp_path: Path, url: str, named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        storage.open(url.format(tmp=tmp_path))
    assert named in str(caught.value)
    assert "option" in str(caught.value)


def test_known_options_are_still_accepted(tmp_path: Path) -> None:
    opened = [
        storage.open("memory://"),
        storage.open(f"sqlite:///{tmp_path}/x.db?timeout=5"),
        storage.open(f"file:///{tmp_path}/blobs?public_url=http://127.0.0.1:9"),
        storage.open("dynamodb://app?region=us-east-1&offload_threshold=2048&span_ttl_days=3"),
        storage.open("s3://app-bucket/p?region=us-east-1&kms_key=alias/x&endpoint=http://x"),
        # ours, and libpq's own keywords (which libpq reads itself)
        storage.open("postgresql://u@127.0.0.1:1/db?pool=false&max_size=3&sslmode=disable"
                     "&connect_timeout=2&application_name=stowage"),
        storage.open("postgres+data-api://arn:aws:rds:us-east-1:1:cluster:c?secret=arn:s"
                     "&database=d&region=us-east-1"),
    ]
    assert opened[1].memory is not None and opened[4].blobs.kms_key_id == "alias/x"
    for store in opened:
        store.close()


# --- S3 bucket names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bucket",
    ["Bad_Bucket!", "Bad_Bucket", "UPPER", "ab", "a" * 64, "-leading", "trailing-", "two..dots",
     "192.168.1.10", "xn--punycode", "name-s3alias", "has space", "under_score"],
)
def test_a_bad_bucket_is_refused_before_any_request(bucket: str) -> None:
    with pytest.raises(ValidationError, match="bucket name"):
        storage.open(f"s3://{bucket}/p?region=us-east-1")
    with pytest.raises(ValidationError, match="bucket name"):
        S3BlobStore(bucket, region="us-east-1")


@pytest.mark.parametrize("bucket", ["abc", "my-bucket.eu", "a" * 63, "stowage-dev-storagebucket1"])
def test_good_buckets_are_accepted(bucket: str) -> None:
    assert check_bucket(bucket) == bucket


def test_botocore_parameter_errors_become_validation_errors() -> None:
    # A name that slipped past the check (set after construction) reaches botocore,
    # whose ParamValidationError must not escape raw.
    from moto import mock_aws

    with mock_aws():
        blobs = S3BlobStore("good-bucket", region="us-east-1")
        blobs.bucket = "Bad_Bucket!"
        with pytest.raises(ValidationError, match="not valid"):
            blobs.setup()
        with pytest.raises(ValidationError):
            blobs.get("s3://Bad_Bucket!/k")


# --- PostgreSQL: a missing database --------------------------------------------------------


@pytest.fixture
def missing_database() -> Iterator[str]:
    pg.session_database()  # skips (or fails under CI) without a server
    url = pg.with_database(pg.server_dsn(), "stowage_missing_db_for_tests")
    pg.drop_database(url)
    yield url


@pytest.mark.postgres
@pytest.mark.parametrize("pool", ["true", "false"])
def test_a_missing_database_says_so_at_once(missing_database: str, pool: str) -> None:
    # Before: the pool retried in the background for 10 s, then said only
    # "couldn't get a connection". Now one direct connection reports the reason.
    store = storage.open(f"{missing_database}?pool={pool}")
    try:
        with pytest.raises(StorageError) as caught:
            store.setup()
        message = str(caught.value)
        assert "stowage_missing_db_for_tests" in message and "does not exist" in message
        assert "create it" in message
        assert not isinstance(caught.value, UnavailableError)  # not "retry later"
    finally:
        store.close()


@pytest.mark.postgres
def test_a_missing_database_over_the_data_api_says_so() -> None:
    from storage.postgres.data_api import DataApiDriver
    from storage.postgres.store import PostgresStore
    from tests.storage.fakes.rds_data import CLUSTER_ARN, SECRET_ARN, FakeDataApi

    fake = FakeDataApi(pg.session_database())
    store = PostgresStore(DataApiDriver(CLUSTER_ARN, SECRET_ARN, "no_such_database",
                                        client=fake.client(), sleep=lambda _: None))
    try:
        with pytest.raises(StorageError, match="does not exist") as caught:
            store.setup()
        assert not isinstance(caught.value, UnavailableError)
    finally:
        store.close()
        fake.close()


# --- local paths ---------------------------------------------------------------------------


def test_a_blob_folder_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist; create it first"):
        storage.open(f"file:///{tmp_path}/missing/blobs")
    assert not (tmp_path / "missing").exists()
    opened: Any = storage.open(f"file:///{tmp_path}/blobs")  # its parent exists: fine
    opened.setup()
    assert (tmp_path / "blobs").is_dir()
