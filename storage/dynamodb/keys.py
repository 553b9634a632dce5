"""The memory table's keys, shared by the message, window, neighbour and vector code.

A thread and its messages share the partition ``THREAD#<thread>``; a message's sort
key is ``MSG#<16-digit shifted epoch ms>#<message id>`` and the thread item's is
``THREAD`` (after every message); a locator ``MSGID#<id>`` says where a message lives.
"""

from __future__ import annotations

from datetime import datetime

from storage.dynamodb.codec import Item, s, sort_key

MSG_LOW = "MSG#"
MSG_HIGH = "MSG$"  # "$" follows "#": above every message sort key, below "THREAD"

Location = tuple[str, str]  # (thread id, message sort key)


def thread_key(thread_id: str) -> Item:
    """A thread item's key (its messages share the partition)."""
    return {"pk": s(f"THREAD#{thread_id}"), "sk": s("THREAD")}


def locator_key(message_id: str) -> Item:
    """The key of the item that says where a message lives."""
    return {"pk": s(f"MSGID#{message_id}"), "sk": s("MSGID")}


def message_sk(created_at: datetime, message_id: str) -> str:
    """A message's sort key in its thread: by time, then id."""
    return MSG_LOW + sort_key(created_at, message_id)


def message_key(thread_id: str, sk: str) -> Item:
    """A message item's key."""
    return {"pk": s(f"THREAD#{thread_id}"), "sk": s(sk)}


__all__ = [
    "MSG_HIGH",
    "MSG_LOW",
    "Location",
    "locator_key",
    "message_key",
    "message_sk",
    "thread_key",
]
