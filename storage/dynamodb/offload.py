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

from storage.dynamodb import codec
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

    def fit(
        self,
        item: Item,
        names: Sequence[str],
        key_parts: Sequence[str],
        *,
        what: str | None = None,
        domain: str | None = None,
    ) -> list[str]:
        """Offload ``names`` (largest first) until ``item`` fits; mutates ``item``.

        A name may hold a JSON document as a string (``S``) or a native map (``M``,
        thread and resource metadata), which is offloaded as its JSON text.

        Args:
            item: the item, sized as it will be written.
            names: the attributes that may move to the blob store.
            key_parts: offload keys are ``offload/<domain>/<parts>/<name>/<sha256>``.
            what: the item in error messages (``thread 't-1'``); the domain's by default.
            domain: the offload keys' domain segment (default: this offloader's).

        Returns:
            The URIs uploaded (so a failed write can delete them).

        Raises:
            ItemTooLargeError: the item is over the threshold and there is no blob
                store (the message names its largest attribute), or it is still over
                once every offloadable attribute is out.
        """
        size = item_size(item)
        if size <= self.threshold:
            return []
        candidates = sorted(
            (name for name in names if {"S", "M"} & item.get(name, {}).keys()),
            key=lambda name: attribute_size(name, item[name]),
            reverse=True,
        )
        label = what or f"{self.domain} item"
        if self.blobs is None:
            largest = (
                f" (its largest attribute, {candidates[0]!r}, is "
                f"{attribute_size(candidates[0], item[candidates[0]])} bytes)"
                if candidates else ""
            )
            raise ItemTooLargeError(
                f"{label} is {size} bytes, over the {self.threshold}-byte threshold{largest}, "
                "and no blob store is configured to offload to"
            )
        uploaded: list[str] = []
        for name in candidates:
            value = item.pop(name)
            text = value["S"] if "S" in value else codec.dumps(codec.from_av(value))
            data = text.encode("utf-8")
            digest = hashlib.sha256(data).hexdigest()
            uri = self.blobs.put(
                offload_key(domain or self.domain, *key_parts, name, digest),
                data,
                content_type="application/json",
            )
            uploaded.append(uri)
            item[name + REF_SUFFIX] = {"S": uri}
            log.info("offloaded domain=%s attribute=%s bytes=%s", domain or self.domain, name,
                     len(data))
            size = item_size(item)
            if size <= self.threshold:
                return uploaded
        raise ItemTooLargeError(
            f"{label} is still {size} bytes after offloading every large attribute"
        )

    def resolve(self, item: Item, names: Iterable[str], *, maps: Iterable[str] = ()) -> Item:
        """Put offloaded attributes back (reads the blobs); returns ``item``.

        ``maps`` names the attributes that were native maps (their JSON becomes ``M``).
        """
        as_maps = set(maps)
        for name in names:
            ref = item.pop(name + REF_SUFFIX, None)
            if ref is None:
                continue
            if self.blobs is None:
                raise ItemTooLargeError(
                    f"{self.domain} item has an offloaded {name!r} but no blob store is attached"
                )
            text = self.blobs.get(ref["S"]).decode("utf-8")
            item[name] = codec.to_av(codec.loads(text)) if name in as_maps else {"S": text}
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
