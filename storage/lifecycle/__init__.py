"""Data lifecycle: retention settings and pruning (issue 16).

    >>> from storage.lifecycle import Retention
    >>> store = storage.from_env()           # STOWAGE_RETENTION=threads=90d,spans=14d
    >>> store.prune()                        # deletes what is past its age; a receipt
    >>> store.erase_resource("user-1")       # everything of one resource; a receipt
"""

from __future__ import annotations

from storage.lifecycle.erase import EraseMixin, ErasureReceipt, erase_resource
from storage.lifecycle.inventory import ResourceInventory
from storage.lifecycle.prune import DEFAULT_BATCH_SIZE, PruneMixin, PruneReceipt, prune
from storage.lifecycle.retention import RETENTION_DOMAINS, Retention, parse_age

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "RETENTION_DOMAINS",
    "EraseMixin",
    "ErasureReceipt",
    "PruneMixin",
    "PruneReceipt",
    "ResourceInventory",
    "Retention",
    "erase_resource",
    "parse_age",
    "prune",
]
