"""Message operations of :class:`~storage.dynamodb.memory.DynamoDBMemoryStore`.

A turn (its messages and the thread bump) is one TransactWriteItems: each message
item, its locator (``MSGID#<id>``, put only if absent) and one update per thread
(``updated_at``, the index sort key and ``message_count``; the thread must exist).
If a locator already exists (a re-save, a move) the transaction is cancelled and
the slow path reads the locators and writes again with exact conditions, so the
common case costs one request and the rare one three.

Where each part lives:

* ``_messages_items.py``: a message as an item, its locator, loading by locator;
* ``_messages_writes.py``: save, update and delete, and the transaction they build;
* ``_messages_resave.py``: re-saving an existing message (in place keeping its
  vector, moved, re-timed) and the content hash that decides whether the vector stays;
* ``_messages_reads.py``: get, list pages and ``include`` windows.
"""

from __future__ import annotations

from storage.dynamodb._messages_items import CONTENT_HASH, MESSAGE_ATTRIBUTES
from storage.dynamodb._messages_reads import MessageReads
from storage.dynamodb._messages_resave import content_hash, in_place
from storage.dynamodb._messages_writes import MessageWrites
from storage.dynamodb.keys import (
    MSG_HIGH,
    MSG_LOW,
    Location,
    locator_key,
    message_sk,
    thread_key,
)


class MessageOps(MessageWrites, MessageReads):
    """Message methods; mixed into the memory store (which sets ``dynamo``, ``table``,
    ``offloader`` and ``expiry_update``)."""


# The key helpers live in keys.py and the parts in the modules above; these names stay
# importable from here.
__all__ = [
    "CONTENT_HASH",
    "MESSAGE_ATTRIBUTES",
    "MSG_HIGH",
    "MSG_LOW",
    "Location",
    "MessageOps",
    "content_hash",
    "in_place",
    "locator_key",
    "message_sk",
    "thread_key",
]
