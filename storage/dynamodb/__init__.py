"""``dynamodb://<prefix>?region=&endpoint=``: one table per domain (see ``schema``).

Importing the package is free of AWS clients: ``infra/`` imports ``schema`` from here,
and the backend itself is loaded only when a URL is opened.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult


def open_url(parsed: SplitResult) -> Any:
    """Open a :class:`~storage.dynamodb.store.DynamoDBStore` from a parsed URL."""
    from storage.dynamodb.store import open_url as _open

    return _open(parsed)
