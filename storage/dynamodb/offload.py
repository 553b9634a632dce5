"""Transparent overflow: attributes that would push an item past the threshold go to blobs.

The rule (DESIGN §2): compute the item's exact size; while it is over the threshold,
move its largest offloadable attribute (a JSON document stored as a string) to the
blob store under a content-addressed key and keep ``<name>_ref`` (the blob URI) in
its place. The upload happens before the item is written, so no item ever points at
a missing object. Reads resolve ``_ref`` attributes back. With no blob store, an
item over the threshold raises :class:`~storage.errors.ItemTooLargeError` instead of
DynamoDB's raw ``ValidationException``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence

from storage.dynamodb.codec import Item
from storage.dynamodb.itemsize import ITEM_LIMIT, attribute_size, item_size
from storage.errors import ItemTooLargeError, ValidationError
from storage.keys import offload_key
from storage.protocols import BlobStore

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 350 * 1024
REF_SUFFIX = "_ref"


class Offloader:
    """Fits items under the threshold by moving big attributes to a blob store.

    Args:
        domain: the storage domain, the second segment of offload keys.
        threshold: the largest item size (bytes, AWS accounting) written inline.
    """

    def __init__(self, domain: str, threshold: int = DEFAULT_THRESHOLD) -> None:
        if not 1024 <= threshold <= ITEM_LIMIT:
            raise ValidationError(f"offload threshold must be 1 KiB..400 KB, got {threshold}")
        self.domain = domain
        self.threshold = threshold
        self.blobs: BlobStore | None = None

    def fit(self, item: Item, names: Sequence[str], key_parts: Sequence[str]) -> list[str]:
        """Offload ``names`` (largest first) until ``item`` fits; mutates ``item``.

        Returns:
            The URIs uploaded (so a failed write can delete them).

        Raises:
            ItemTooLargeError: the item is over the threshold and there is no blob
                store, or it is still over once every offloadable attribute is out.
        """
        size = item_size(item)
        if size <= self.threshold:
            return []
        candidates = sorted(
            (name for name in names if "S" in item.get(name, {})),
            key=lambda name: attribute_size(name, item[name]),
            reverse=True,
        )
        if self.blobs is None:
            raise ItemTooLargeError(
                f"{self.domain} item is {size} bytes, over the {self.threshold}-byte threshold, "
                "and no blob store is configured to offload to"
            )
        uploaded: list[str] = []
        for name in candidates:
            data = item.pop(name)["S"].encode("utf-8")
            digest = hashlib.sha256(data).hexdigest()
            uri = self.blobs.put(
                offload_key(self.domain, *key_parts, name, digest),
                data,
                content_type="application/json",
            )
            uploaded.append(uri)
            item[name + REF_SUFFIX] = {"S": uri}
            log.info("offloaded domain=%s attribute=%s bytes=%s", self.domain, name, len(data))
            size = item_size(item)
            if size <= self.threshold:
                return uploaded
        raise ItemTooLargeError(
            f"{self.domain} item is still {size} bytes after offloading every large attribute"
        )

    def resolve(self, item: Item, names: Iterable[str]) -> Item:
        """Put offloaded attributes back (reads the blobs); returns ``item``."""
        for name in names:
            ref = item.pop(name + REF_SUFFIX, None)
            if ref is None:
                continue
            if self.blobs is None:
                raise ItemTooLargeError(
                    f"{self.domain} item has an offloaded {name!r} but no blob store is attached"
                )
            item[name] = {"S": self.blobs.get(ref["S"]).decode("utf-8")}
        return item

    @staticmethod
    def refs(item: Item) -> list[str]:
        """The blob URIs an item points at."""
        return [v["S"] for k, v in item.items() if k.endswith(REF_SUFFIX) and "S" in v]

    def discard(self, uris: Sequence[str]) -> None:
        """Delete blobs that no item points at any more (best effort)."""
        if uris and self.blobs is not None:
            try:
                self.blobs.delete(list(uris))
            except Exception:  # a leaked blob is harmless; a failed user write is not
                log.warning("could not delete %s offloaded blobs", len(uris), exc_info=True)
