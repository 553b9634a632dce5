"""The fake AWS the DynamoDB and S3 benches run against, set up in one place.

:func:`credentials` gives boto3 fake credentials and a region (moto answers, nothing
leaves the process); :func:`environment` adds moto itself, patched with the test
support's cheaper transactions (``tests/support/moto_dynamodb.py``: the figures are the
same, moto's wall times shorter), and on request the SearchVectors fake.
"""

from __future__ import annotations

import os

CREDENTIALS = (
    ("AWS_ACCESS_KEY_ID", "bench"),
    ("AWS_SECRET_ACCESS_KEY", "bench"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
)


def credentials() -> None:
    """Fake AWS credentials and region (values already set are kept)."""
    for name, value in CREDENTIALS:
        os.environ.setdefault(name, value)


def environment(*, search_vectors: bool = False) -> None:
    """Fake credentials, moto patched in, and (``search_vectors``) the SearchVectors fake."""
    credentials()
    import moto  # noqa: F401  (patches botocore before any client exists)

    if search_vectors:
        import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (SearchVectors for moto)
    from tests.support import moto_dynamodb

    moto_dynamodb.install()
