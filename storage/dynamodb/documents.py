"""Thread and resource items: merged in place while they fit, rewritten whole when they don't.

Thread and resource metadata are native maps merged key by key on the server
(``SET metadata.#k = :v``), so concurrent merges of different keys never lose one and
a merge is one UpdateItem. But a merge, a new title or a new working memory can grow
the item past the offload threshold, and only a client that knows the item's size
can offload in time (DynamoDB refuses an item over 400 KB; moto does not check an
UpdateItem at all). So every such item keeps two numbers:

* ``item_bytes``: an upper bound of its size. A whole write sets it exactly (counters
  sized at their widest); an in-place edit adds what it writes (and subtracts nothing,
  so the bound only over-estimates).
* ``doc_version``: bumped by every edit of the documents (title or working memory,
  metadata).

The fast path is the one UpdateItem, on condition that ``item_bytes`` plus the edit
stays under the threshold and nothing is offloaded. When the condition fails the slow
path reads the item (strongly consistent), merges on the client, sizes the result
exactly, offloads the largest documents when it must (metadata as its JSON, like
every other big attribute: ``metadata_ref``) or raises
:class:`~storage.errors.ItemTooLargeError` without a blob store, and writes the
documents whole on condition that ``doc_version`` is unchanged (retrying on a race,
so concurrent merges still lose nothing). A save and an update of the same record
therefore get the same verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from storage.dynamodb import codec
from storage.dynamodb.codec import AV, Item, get_n
from storage.dynamodb.driver import Dynamo
from storage.dynamodb.itemsize import attribute_size, item_size, value_size
from storage.dynamodb.offload import REF_SUFFIX, Offloader
from storage.errors import ConflictError, NotFoundError, StorageError

log = logging.getLogger(__name__)

BYTES = "item_bytes"
VERSION = "doc_version"
WIDEST = codec.n(10**12)
"""A counter at the widest it is sized for (a trillion messages, bytes or edits)."""
_RETRIES = 8


@dataclass(frozen=True)
class Documents:
    """The documents of one kind of item and how to write them.

    Attributes:
        text: the document replaced whole (``title``, ``working_memory``).
        merged: the native map merged key by key (``metadata``).
        counters: numbers that grow in place (``message_count``), sized at their widest.
        domain: the offload keys' domain segment (``offload/<domain>/<id>/...``).
    """

    text: str
    merged: str = "metadata"
    counters: tuple[str, ...] = ()
    domain: str = "memory"

    @property
    def names(self) -> tuple[str, str]:
        """The offloadable attributes, the map first."""
        return (self.merged, self.text)

    @property
    def stored(self) -> tuple[str, ...]:
        """Every attribute a whole write sets or removes."""
        return (*self.names, *(n + REF_SUFFIX for n in self.names))


class DocumentWriter:
    """Writes the documents of thread or resource items (see the module docstring).

    Args:
        dynamo: the client.
        table: the table.
        offloader: the domain's offloader (its blob store and threshold).
        docs: which attributes are the documents.
    """

    def __init__(self, dynamo: Dynamo, table: str, offloader: Offloader, docs: Documents) -> None:
        self.dynamo = dynamo
        self.table = table
        self.offloader = offloader
        self.docs = docs

    def resolve(self, item: Item) -> Item:
        """``item`` with its offloaded documents read back (mutated and returned)."""
        return self.offloader.resolve(item, self.docs.names, maps=(self.docs.merged,))

    def read(self, key: Item, item: Item | None = None) -> Item | None:
        """The item (``item`` if already read) with its documents resolved; ``None`` if gone.

        A concurrent rewrite deletes the blob the item read before it pointed at; the
        item is then read again (strongly consistent), so a reader never fails on it.
        """
        for _ in range(_RETRIES):
            if item is None:
                item = self.dynamo.get(self.table, key)
                if item is None:
                    return None
            try:
                return self.resolve(item)
            except NotFoundError:
                item = None  # rewritten meanwhile: read the new version
        raise ConflictError("an item kept being rewritten while being read")

    def refs(self, item: Mapping[str, AV]) -> list[str]:
        """The blob URIs ``item``'s documents point at."""
        return [item[n + REF_SUFFIX]["S"] for n in self.docs.names if n + REF_SUFFIX in item]

    def fit(self, item: Item, key_id: str, what: str) -> tuple[list[str], int]:
        """Make a whole item fit: offload its largest documents if it must (mutates ``item``).

        Returns:
            The blob URIs uploaded and the item's size bound (its counters at their widest).

        Raises:
            ItemTooLargeError: over the threshold and no blob store (the message names the
                largest document), or still over once both documents are out.
        """
        sized = {**item, **{n: WIDEST for n in (*self.docs.counters, BYTES, VERSION)}}
        uploads = self.offloader.fit(sized, self.docs.names, (key_id,), what=what,
                                     domain=self.docs.domain)
        for name in self.docs.stored:
            item.pop(name, None)
            if name in sized:
                item[name] = sized[name]
        return uploads, item_size(sized)

    def assignments(self, item: Mapping[str, AV], size: int) -> tuple[list[str], list[str],
                                                                        dict[str, str],
                                                                        dict[str, AV]]:
        """SET and REMOVE clauses writing ``item``'s documents whole and its size bound.

        ``doc_version`` is not included: the caller sets it (with its own condition).
        """
        sets, removes, names, values = [], [], {"#ib": BYTES}, {":ib": codec.n(size)}
        sets.append("#ib = :ib")
        for i, name in enumerate(self.docs.stored):
            names[f"#d{i}"] = name
            if name in item:
                values[f":d{i}"] = item[name]
                sets.append(f"#d{i} = :d{i}")
            else:
                removes.append(f"#d{i}")
        return sets, removes, names, values

    def update(
        self,
        key: Item,
        *,
        key_id: str,
        what: str,
        text: str | None,
        patch: Mapping[str, Any],
        extra: Mapping[str, AV],
        create: Callable[[], Item] | None = None,
        missing: Callable[[], StorageError] | None = None,
    ) -> Item:
        """Set the text document (unless ``None``), merge ``patch`` into the map, set ``extra``.

        Args:
            key: the item's key.
            key_id: the id in offload keys (the thread's or the resource's).
            what: the item in error messages.
            text: the new text document, or ``None`` to keep it.
            patch: metadata keys to merge.
            extra: other attributes to set (``updated_at``, index keys).
            create: builds the whole item when it does not exist (``None``: ``missing``).
            missing: the error for an item that does not exist.

        Returns:
            The item as stored (its documents may still be offloaded: :meth:`resolve`).
        """
        out = self._in_place(key, text, patch, extra)
        if out is not None:
            return out
        # Blobs this call uploaded or saw referenced; whatever the final item does not
        # point at is deleted once it is written (content-addressed keys may repeat, so
        # nothing is deleted before then).
        seen: set[str] = set()
        for _ in range(_RETRIES):
            current = self.dynamo.get(self.table, key)
            if current is None:
                if create is None:
                    assert missing is not None
                    self.offloader.discard(sorted(seen))  # deleted meanwhile
                    raise missing()
                done = self._create(create(), key_id, what, seen)
            else:
                seen.update(self.refs(current))
                done = self._rewrite(key, current, key_id, what, text, patch, extra, seen)
            if done is not None:
                self.offloader.discard(sorted(seen - set(self.refs(done))))
                return done
        self.offloader.discard(sorted(seen))
        raise ConflictError(f"{what} kept changing while being updated")

    # --- the fast path --------------------------------------------------------------------

    def _in_place(self, key: Item, text: str | None, patch: Mapping[str, Any],
                  extra: Mapping[str, AV]) -> Item | None:
        """One UpdateItem while the item provably fits; ``None`` when it may not (or is gone)."""
        names: dict[str, str] = {"#ib": BYTES, "#dv": VERSION,
                                 "#mdr": self.docs.merged + REF_SUFFIX}
        if patch:
            names["#md"] = self.docs.merged
        values: dict[str, AV] = {":one": codec.n(1)}
        sets: list[str] = []
        cost = 0
        for i, (name, value) in enumerate(extra.items()):
            names[f"#x{i}"] = name
            values[f":x{i}"] = value
            sets.append(f"#x{i} = :x{i}")
        condition = "attribute_exists(pk) AND #ib <= :room AND attribute_not_exists(#mdr)"
        if text is not None:
            names.update({"#t": self.docs.text, "#tr": self.docs.text + REF_SUFFIX})
            values[":t"] = codec.s(text)
            sets.append("#t = :t")
            condition += " AND attribute_not_exists(#tr)"
            cost += attribute_size(self.docs.text, values[":t"])
        for i, (name, value) in enumerate(patch.items()):
            names[f"#k{i}"] = name
            values[f":v{i}"] = codec.to_av(value)
            sets.append(f"#md.#k{i} = :v{i}")
            cost += 1 + len(name.encode("utf-8")) + value_size(values[f":v{i}"])
        values[":cost"] = codec.n(cost)
        values[":room"] = codec.n(self.offloader.threshold - cost)
        try:
            out = self.dynamo.call(
                "UpdateItem",
                TableName=self.table,
                Key=key,
                UpdateExpression=f"SET {', '.join(sets)} ADD #ib :cost, #dv :one",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ConflictError:
            return None  # missing, too big for the bound, offloaded, or sized before item_bytes
        attributes: Item = out["Attributes"]
        return attributes

    # --- the slow path --------------------------------------------------------------------

    def _create(self, item: Item, key_id: str, what: str, seen: set[str]) -> Item | None:
        uploads, size = self.fit(item, key_id, what)
        seen.update(uploads)
        item[BYTES] = codec.n(size)
        item[VERSION] = codec.n(1)
        try:
            self.dynamo.call("PutItem", TableName=self.table, Item=item,
                             ConditionExpression="attribute_not_exists(pk)")
        except ConflictError:
            return None  # created meanwhile: merge into it
        return item

    def _rewrite(self, key: Item, current: Item, key_id: str, what: str, text: str | None,
                 patch: Mapping[str, Any], extra: Mapping[str, AV],
                 seen: set[str]) -> Item | None:
        version = get_n(current, VERSION, -1) if VERSION in current else None
        try:
            resolved = self.resolve({k: v for k, v in current.items()})
        except NotFoundError:
            return None  # rewritten since it was read (its old blob is gone): read again
        merged = {**codec.from_av(resolved.get(self.docs.merged, {"M": {}})), **patch}
        item: Item = {k: v for k, v in current.items() if k not in self.docs.stored}
        item.update(extra)
        item[self.docs.merged] = codec.to_av(merged)
        new_text = text if text is not None else codec.get_s(resolved, self.docs.text)
        if new_text is not None:
            item[self.docs.text] = codec.s(new_text)
        uploads, size = self.fit(item, key_id, what)
        seen.update(uploads)
        sets, removes, names, values = self.assignments(item, size)
        for i, (name, value) in enumerate(extra.items()):
            names[f"#x{i}"] = name
            values[f":x{i}"] = value
            sets.append(f"#x{i} = :x{i}")
        names["#dv"] = VERSION
        if version is None:
            condition = "attribute_exists(pk) AND attribute_not_exists(#dv)"
            values[":nv"] = codec.n(1)
        else:
            condition = "attribute_exists(pk) AND #dv = :v"
            values[":v"] = codec.n(version)
            values[":nv"] = codec.n(version + 1)
        sets.append("#dv = :nv")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            out = self.dynamo.call(
                "UpdateItem",
                TableName=self.table,
                Key=key,
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ConflictError:
            return None  # another edit (or a delete) came first: read again
        log.info("rewrote %s whole bytes=%s offloaded=%s", what, size, len(uploads))
        attributes: Item = out["Attributes"]
        return attributes
