"""``s3://<bucket>/<prefix>?region=&endpoint=&kms_key=``: blobs in S3.

Importing the package loads no AWS client; the store is built when a URL is opened.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult


def open_url(parsed: SplitResult) -> Any:
    """Open an :class:`~storage.s3.store.S3Store` from a parsed URL."""
    from storage.s3.store import open_url as _open

    return _open(parsed)
