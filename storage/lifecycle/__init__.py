"""Data lifecycle: retention settings and pruning, export and import (issue 16).

    >>> from storage.lifecycle import Retention
    >>> store = storage.from_env()           # STOWAGE_RETENTION=threads=90d,spans=14d
    >>> store.prune()                        # deletes what is past its age; a receipt
    >>> store.erase_resource("user-1")       # everything of one resource; a receipt
    >>> export_resource(store, "user-1", "user-1.zip")    # one resource, one archive
    >>> import_archive(storage.open("dynamodb://app"), "user-1.zip")
"""

from __future__ import annotations

from typing import Any

from storage.lifecycle.erase import EraseMixin, ErasureReceipt, erase_resource
from storage.lifecycle.inventory import ResourceInventory
from storage.lifecycle.prune import DEFAULT_BATCH_SIZE, PruneMixin, PruneReceipt, prune
from storage.lifecycle.retention import RETENTION_DOMAINS, Retention, parse_age

_ARCHIVE = ("ArchiveError", "ImportReceipt", "Manifest", "export_resource", "import_archive")


def __getattr__(name: str) -> Any:
    # The archive modules load on first use: the composite imports this package at
    # ``import storage`` time, and a Lambda that never exports should not pay for zipfile.
    if name in _ARCHIVE:
        from storage.lifecycle import archive

        return getattr(archive, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "RETENTION_DOMAINS",
    "ArchiveError",
    "EraseMixin",
    "ErasureReceipt",
    "ImportReceipt",
    "Manifest",
    "PruneMixin",
    "PruneReceipt",
    "ResourceInventory",
    "Retention",
    "erase_resource",
    "export_resource",
    "import_archive",
    "parse_age",
    "prune",
]
