"""Saving a message that already exists: in place (keeping its vector when its text is
unchanged), moved to another thread, or re-timed.

The locator records a hash of what the vector depends on (:func:`content_hash`). A
message rewritten where it is (same thread, same time) is updated in place, so the
vector and neighbour lists on its item stay unless that hash changed; a move or a
re-time replaces the item (the vector goes with the old one). Every locator write is
conditional on the location and hash read, so a racing edit cancels the transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from storage.dynamodb import codec
from storage.dynamodb._messages_items import CONTENT_HASH, MESSAGE_ATTRIBUTES
from storage.dynamodb.codec import Item, get_s, s
from storage.dynamodb.driver import delete, put, update
from storage.dynamodb.keys import Location, locator_key, message_key
from storage.dynamodb.schema import NEIGHBOURS_NEXT, NEIGHBOURS_PREVIOUS, VECTOR_ATTRIBUTE
from storage.errors import MessageIdConflictError
from storage.records import Message
from storage.vector_rules import text_of


def save_actions(
    table: str,
    message: Message,
    item: Item,
    locators: dict[str, Location] | None,
    hashes: dict[str, str | None],
) -> tuple[list[dict[str, Any]], dict[str, int], bool]:
    """The actions that store one message, the message count change per thread, and
    whether they leave a message that existed without the vector it may have had.

    A message rewritten where it is (same thread, same time) is updated in place,
    so the vector and neighbour lists on its item stay; they go only when the
    content hash differs from the one its locator recorded (the vector no longer
    describes it), and the locator's write is conditional on that hash, so an edit
    racing this one cancels the transaction.
    """
    new_sk = get_s(item, "sk") or ""
    digest = content_hash(message)
    locator = {
        **locator_key(message.id),
        "thread_id": s(message.thread_id),
        "msk": s(new_sk),
        CONTENT_HASH: s(digest),
    }
    old = locators.get(message.id) if locators is not None else None
    if old is None:
        actions = [put(table, item),
                   put(table, locator, "attribute_not_exists(pk)")]
        return actions, {message.thread_id: 1}, False
    seen = hashes.get(message.id)
    if old == (message.thread_id, new_sk):
        actions = [in_place(table, item, keep_vector=seen == digest),
                   put(table, locator, **same_location(old, seen))]
        return actions, {}, seen != digest
    # Moved to another thread, or re-timed: the old item goes, the locator follows.
    actions = [put(table, item)]
    actions.append(delete(table, message_key(old[0], old[1])))
    actions.append(put(table, locator, **same_location(old, seen)))
    deltas = {old[0]: -1}
    deltas[message.thread_id] = deltas.get(message.thread_id, 0) + 1  # 0 when re-timed
    return actions, deltas, True


def reshaped(message: Message, new_sk: str, old: Location | None) -> list[str]:
    """The threads whose set of messages saving ``message`` changes (added, moved, re-timed)."""
    if old is None:
        return [message.thread_id]
    if old == (message.thread_id, new_sk):
        return []  # rewritten in place: its neighbours stay the same
    return [old[0], message.thread_id]


def refuse_moves(records: Sequence[Message], locators: dict[str, Location]) -> None:
    """Raise when a message's locator says it lives in another thread."""
    for record in records:
        where = locators.get(record.id)
        if where is not None and where[0] != record.thread_id:
            raise MessageIdConflictError(record.id)


def same_location(old: Location, digest: str | None) -> dict[str, Any]:
    """A condition (and its values) that the locator still points at ``old`` and
    records the content hash ``digest`` read with it."""
    values = {":ot": s(old[0]), ":ok": s(old[1])}
    if digest is None:
        same = f"attribute_not_exists({CONTENT_HASH})"
    else:
        same, values[":och"] = f"{CONTENT_HASH} = :och", s(digest)
    return {
        "condition": f"thread_id = :ot AND msk = :ok AND {same}",
        "ExpressionAttributeValues": values,
    }


def content_hash(message: Message) -> str:
    """What a message's vector depends on, hashed: the text semantic recall embeds
    (``vector_rules.text_of``) and the resource (a metadata edit keeps the vector)."""
    text = codec.dumps({"t": text_of(message.content), "r": message.resource_id})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def in_place(table: str, item: Item, *, keep_vector: bool) -> dict[str, Any]:
    """An UpdateItem rewriting a message item where it is: every attribute of ``item``
    set, the message attributes it lacks removed; the vector and its neighbour lists
    kept when ``keep_vector``, else removed (a list is kept exact only on an item
    with a vector: ``neighbours.plan``)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets = []
    for index, (name, value) in enumerate(sorted(item.items())):
        if name in ("pk", "sk"):
            continue
        names[f"#a{index}"], values[f":a{index}"] = name, value
        sets.append(f"#a{index} = :a{index}")
    gone = [n for n in MESSAGE_ATTRIBUTES if n not in item]
    if not keep_vector:
        # The lists go with it: only items with a vector have their lists kept exact.
        gone += [VECTOR_ATTRIBUTE, NEIGHBOURS_PREVIOUS, NEIGHBOURS_NEXT]
    for index, name in enumerate(gone):
        names[f"#r{index}"] = name
    expression = "SET " + ", ".join(sets)
    if gone:
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(gone)))
    return update(table, {"pk": item["pk"], "sk": item["sk"]}, expression,
                  ExpressionAttributeNames=names, ExpressionAttributeValues=values)
