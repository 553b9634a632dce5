"""A message as an item, and where it lives: the base both message reads and writes use.

A message item sits in its thread's partition under ``MSG#<time>#<id>``; its content
may be offloaded to the blob store (``offload.py``). The locator ``MSGID#<id>`` says
where it lives and records the hash of what its vector depends on
(``_messages_resave.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.dynamodb import codec
from storage.dynamodb.codec import Item, get_s, get_time, ms, s
from storage.dynamodb.driver import Dynamo
from storage.dynamodb.keys import Location, locator_key, message_key, message_sk
from storage.dynamodb.offload import REF_SUFFIX, Offloader
from storage.records import Message

BIG = ("content",)
"""The message attributes that may be offloaded to the blob store."""
CONTENT_HASH = "ch"
"""The locator's hash of the message's text and resource (see ``content_hash``)."""
MESSAGE_ATTRIBUTES = (
    "id", "thread_id", "role", "type", "created_at", "content", "content" + REF_SUFFIX,
    "resource_id",
)
"""Every attribute a message item may hold besides its key, the vector and its lists."""


class MessageItems:
    """Message items and locators; the base of the message mixins (the store sets these)."""

    dynamo: Dynamo
    table: str
    offloader: Offloader

    def _locate(self, message_ids: Sequence[str]) -> dict[str, Location]:
        """Where each known message lives (strongly consistent)."""
        return self._locate_with_hashes(message_ids)[0]

    def _locate_with_hashes(
        self, message_ids: Sequence[str]
    ) -> tuple[dict[str, Location], dict[str, str | None]]:
        """Where each known message lives, and the content hash its locator records
        (``None``: written before locators held one)."""
        found = self.dynamo.batch_get(self.table, [locator_key(i) for i in message_ids])
        locators: dict[str, Location] = {}
        hashes: dict[str, str | None] = {}
        for i in found:
            message_id = (get_s(i, "pk") or "").removeprefix("MSGID#")
            locators[message_id] = (get_s(i, "thread_id") or "", get_s(i, "msk") or "")
            hashes[message_id] = get_s(i, CONTENT_HASH)
        return locators, hashes

    def _load(self, locators: dict[str, Location]) -> list[Message]:
        return self._load_with_refs(locators)[0]

    def _load_with_refs(self, locators: dict[str, Location]) -> tuple[list[Message], list[str]]:
        """The messages, and the blob URIs their items pointed at before resolving."""
        keys = [message_key(t, k) for t, k in locators.values()]
        items = self.dynamo.batch_get(self.table, keys)
        refs = [uri for item in items for uri in Offloader.refs(item)]
        return [self._record(i) for i in items], refs

    def _message_item(self, m: Message) -> Item:
        item: Item = {
            "pk": s(f"THREAD#{m.thread_id}"),
            "sk": s(message_sk(m.created_at, m.id)),
            "id": s(m.id),
            "thread_id": s(m.thread_id),
            "role": s(m.role),
            "type": s(m.type),
            "created_at": ms(m.created_at),
            "content": s(codec.dumps(m.content)),
        }
        if m.resource_id is not None:
            item["resource_id"] = s(m.resource_id)
        return item

    def _fitted_items(self, records: Sequence[Message], uploads: list[str]) -> list[Item]:
        """The records' items, big content offloaded; the blob URIs written are added to
        ``uploads`` as they are written, so a caller can discard them on any failure."""
        items: list[Item] = []
        for record in records:
            item = self._message_item(record)
            uploads += self.offloader.fit(item, BIG, (record.thread_id, record.id))
            items.append(item)
        return items

    def _record(self, item: Item) -> Message:
        self.offloader.resolve(item, BIG)
        created = get_time(item, "created_at")
        assert created is not None
        return Message(
            id=get_s(item, "id") or "",
            thread_id=get_s(item, "thread_id") or "",
            role=get_s(item, "role") or "",
            content=codec.loads(get_s(item, "content") or "{}"),
            created_at=created,
            resource_id=get_s(item, "resource_id"),
            type=get_s(item, "type") or "v2",
        )
