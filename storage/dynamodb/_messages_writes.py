"""Writing messages: save (upsert), update, delete, each bumping its threads.

A turn (its messages and the thread bump) is one TransactWriteItems: each message
item, its locator (``MSGID#<id>``, put only if absent) and one update per thread
(``updated_at``, the index sort key and ``message_count``; the thread must exist).
If a locator already exists (a re-save, a move) the transaction is cancelled and
the slow path reads the locators and writes again with exact conditions
(``_messages_resave.py``), so the common case costs one request and the rare one three.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb._messages_items import MessageItems
from storage.dynamodb._messages_resave import refuse_moves, reshaped, save_actions
from storage.dynamodb.codec import Item, get_s, ms, s, sort_key
from storage.dynamodb.driver import (
    TRANSACTION_ACTIONS,
    TRANSACTION_BYTES,
    TransactionCanceled,
    action_size,
    delete,
    transaction_chunks,
    update,
)
from storage.dynamodb.keys import Location, locator_key, message_key, thread_key
from storage.dynamodb.offload import Offloader
from storage.dynamodb.schema import PENDING_EMBEDDINGS, STRUCTURE_VERSION, UPD
from storage.errors import ConflictError, NotFoundError, ValidationError
from storage.records import Message, MessageUpdate, apply_message_update
from storage.timeutil import utcnow
from storage.vector_rules import embeddable

_RETRIES = 5
_SIZE_MARGIN = 64 * 1024


class MessageWrites(MessageItems):
    """Message writes; mixed into the memory store (which sets these attributes)."""

    # Set by attach_vectors when the vectors live on these items: a write that drops
    # an embeddable message's vector marks it on its thread for re-embedding.
    _marks_reembedding: bool = False
    # From RetentionAware: the thread's TTL update (storage.dynamodb.retention).
    expiry_update: Callable[[str, datetime], tuple[str, str, dict[str, Any]]]

    def save_messages(
        self, messages: Sequence[Message], *, allow_move: bool = True
    ) -> list[Message]:
        """Upsert messages by id, all or nothing, in one transaction when it fits.

        Without moves (``allow_move=False``) nothing is read first either: a new id's
        locator is put only if absent, an existing one only if it still points where
        it was read, so a locator of another thread (or one created meanwhile) cancels
        the transaction and the re-read refuses the save.

        Raises:
            NotFoundError: a target thread does not exist (nothing is written).
            MessageIdConflictError: ``allow_move=False`` and an id lives in another
                thread (nothing is written).
        """
        batch = list(messages)
        for message in batch:
            if not isinstance(message, Message):
                raise ValidationError(f"expected a Message, got {type(message).__name__}")
            v.check_message(message)
        if not batch:
            return []
        if not allow_move:
            v.check_no_move_within(batch)
        records = list({m.id: m for m in batch}.values())
        named = {m.thread_id for m in batch}
        orphans = {m.thread_id for m in records if m.resource_id is None}
        if orphans:
            # Messages without a resource take their thread's: read those threads first.
            owners = {
                get_s(i, "id") or "": get_s(i, "resource_id") or ""
                for i in self.dynamo.batch_get(self.table, [thread_key(t) for t in orphans])
            }
            for thread_id in orphans - owners.keys():
                raise NotFoundError(f"thread {thread_id!r} does not exist")
            records = [
                m if m.resource_id is not None else replace(m, resource_id=owners[m.thread_id])
                for m in records
            ]
        uploads: list[str] = []
        try:
            items = self._fitted_items(records, uploads)
            locators: dict[str, Location] | None = None
            hashes: dict[str, str | None] = {}
            for _ in range(_RETRIES):
                try:
                    self._write(
                        list(zip(records, items, strict=True)), locators, utcnow(), named,
                        hashes=hashes,
                    )
                    break
                except TransactionCanceled:
                    locators, hashes = self._locate_with_hashes([m.id for m in records])
                    if not allow_move:
                        refuse_moves(records, locators)
            else:
                raise ConflictError("messages kept changing while being saved")
        except Exception:
            self.offloader.discard(uploads)
            raise
        self._rewritten(list(locators or ()))
        return [replace(m, content=dict(m.content)) for m in records]

    def _rewritten(self, message_ids: list[str]) -> None:
        """Hook: these messages existed and were written again whole (their items replaced)."""

    def _write(
        self,
        pairs: list[tuple[Message, Item]],
        locators: dict[str, Location] | None,
        now: datetime,
        must_exist: set[str] | frozenset[str] = frozenset(),
        *,
        hashes: dict[str, str | None] | None = None,
    ) -> None:
        """Write message items; ``locators=None`` assumes every message is new.

        ``must_exist`` names threads a batch mentions without writing to them (an entry
        a later one superseded): the first transaction checks they exist. ``hashes``:
        the content hashes the locators recorded when ``locators`` were read.
        """
        groups: list[tuple[list[dict[str, Any]], dict[str, int], dict[str, int]]] = []
        actions: list[dict[str, Any]] = []
        deltas: dict[str, int] = defaultdict(int)
        changes: dict[str, int] = defaultdict(int)
        size = 0
        pending: dict[str, list[str]] = defaultdict(list)
        for message, item in pairs:
            mine, moved, dropped = save_actions(
                self.table, message, item, locators, hashes or {}
            )
            if dropped and self._marks_reembedding and embeddable(message.role, message.content):
                pending[message.thread_id].append(message.id)
            threads = {message.thread_id} | set(moved)
            mine_size = sum(action_size(a) for a in mine)
            if actions and (
                len(actions) + len(mine) + len(set(deltas) | threads) > TRANSACTION_ACTIONS
                or size + mine_size > TRANSACTION_BYTES - _SIZE_MARGIN
            ):
                groups.append((actions, dict(deltas), dict(changes)))
                actions, deltas, changes, size = [], defaultdict(int), defaultdict(int), 0
            actions += mine
            size += mine_size
            for thread_id, delta in moved.items():
                deltas[thread_id] += delta
            deltas[message.thread_id] += 0
            old = locators.get(message.id) if locators is not None else None
            for thread_id in reshaped(message, get_s(item, "sk") or "", old):
                changes[thread_id] += 1
        groups.append((actions, dict(deltas), dict(changes)))
        written = {m.thread_id for m, _ in pairs} | {t for _, d, _ in groups for t in d}
        checks = [
            {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": thread_key(t),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
            for t in sorted(set(must_exist) - written)
        ]
        for index, (group, group_deltas, group_changes) in enumerate(groups):
            bumps = [
                self._bump(t, d, now, group_changes.get(t, 0), pending.pop(t, ()))
                for t, d in sorted(group_deltas.items())
            ]
            if index == 0:
                bumps += checks
            try:
                self.dynamo.transact(group + bumps)
            except TransactionCanceled as exc:
                for reason, action in zip(exc.reasons[len(group) :], bumps, strict=False):
                    if reason == "ConditionalCheckFailed":
                        ((_, body),) = action.items()
                        thread = body["Key"]["pk"]["S"].removeprefix("THREAD#")
                        raise NotFoundError(f"thread {thread!r} does not exist") from exc
                raise

    def _bump(
        self,
        thread_id: str,
        delta: int,
        now: datetime,
        changes: int | None = None,
        reembed: Sequence[str] = (),
    ) -> dict[str, Any]:
        """The thread item's update for a write of its messages.

        ``changes``: messages added to or removed from the thread (default ``|delta|``),
        added to its structure version ``sv``, which says whether the neighbour lists
        semantic recall reads are still exact (``neighbours.py``). ``reembed``: ids of
        messages whose vector this write dropped, added to the thread's ``pe`` set for
        the next embed job (``DynamoDBVectorStore.take_pending``).
        """
        # The thread's TTL moves with its updated_at, in the update the turn makes anyway.
        expiry, unexpire, values = self.expiry_update("threads", now)
        names = {"#upd": UPD, "#sv": STRUCTURE_VERSION}
        adds = "message_count :d, #sv :c"
        if reembed:
            names["#pe"] = PENDING_EMBEDDINGS
            values = {**values, ":pe": {"SS": sorted(set(reembed))}}
            adds += ", #pe :pe"
        return update(
            self.table,
            thread_key(thread_id),
            f"SET updated_at = :ua, #upd = :upd{expiry} ADD {adds}{unexpire}",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":ua": ms(now),
                ":upd": s(sort_key(now, thread_id)),
                ":d": codec.n(delta),
                ":c": codec.n(abs(delta) if changes is None else changes),
                **values,
            },
        )

    def update_messages(self, updates: Sequence[MessageUpdate]) -> list[Message]:
        """Apply partial updates, all or nothing; bumps every thread touched.

        Raises:
            NotFoundError: a message, or the thread a message moves to, does not exist.
        """
        batch = list(updates)
        for item in batch:
            v.check_message_update(item)
        if not batch:
            return []
        for _ in range(_RETRIES):
            locators, hashes = self._locate_with_hashes([u.id for u in batch])
            for u in batch:
                if u.id not in locators:
                    raise NotFoundError(f"message {u.id!r} does not exist")
            loaded, old_refs = self._load_with_refs(locators)
            current = {m.id: m for m in loaded}
            working: dict[str, Message] = {}
            for u in batch:
                base = working.get(u.id) or current.get(u.id)
                if base is None:
                    raise NotFoundError(f"message {u.id!r} does not exist")
                updated = apply_message_update(base, u)
                v.check_message(updated)
                working[u.id] = updated
            try:
                targets = {u.thread_id for u in batch if u.thread_id is not None}
                self._rewrite(list(working.values()), locators, old_refs, targets, hashes)
                return list(working.values())
            except TransactionCanceled:
                continue
        raise ConflictError("messages kept changing while being updated")

    def _rewrite(
        self,
        records: list[Message],
        locators: dict[str, Location],
        old_refs: list[str],
        must_exist: set[str],
        hashes: dict[str, str | None],
    ) -> None:
        uploads: list[str] = []
        try:
            items = self._fitted_items(records, uploads)
            self._write(list(zip(records, items, strict=True)), locators, utcnow(), must_exist,
                        hashes=hashes)
        except Exception:
            self.offloader.discard(uploads)
            raise
        # Offloaded versions no item points at any more (changed content, or a move
        # out of the thread whose prefix holds them) go now that the write is in.
        self.offloader.discard(sorted(set(old_refs) - set(uploads)))

    def delete_messages(self, message_ids: Sequence[str]) -> None:
        """Delete messages; unknown ids are ignored; bumps the threads they were in."""
        ids = v.check_ids(message_ids, "message id")
        locators = self._locate(ids)
        if not locators:
            return
        refs: list[str] = []
        if self.offloader.blobs is not None:
            for item in self.dynamo.batch_get(
                self.table, [message_key(t, k) for t, k in locators.values()]
            ):
                refs += Offloader.refs(item)
        actions: list[dict[str, Any]] = []
        deltas: dict[str, int] = defaultdict(int)
        for thread_id, sk in locators.values():
            actions += self._delete_message_actions(thread_id, sk)
            deltas[thread_id] -= 1
        now = utcnow()
        actions += [self._bump(t, d, now) for t, d in deltas.items()]
        try:
            self._transact_in_chunks(actions)
        except TransactionCanceled as exc:
            raise ConflictError(f"messages changed while being deleted: {exc}") from exc
        self.offloader.discard(refs)

    def _delete_message_actions(self, thread_id: str, sk: str) -> list[dict[str, Any]]:
        message_id = sk.split("#", 2)[2]
        return [
            delete(self.table, message_key(thread_id, sk)),
            delete(self.table, locator_key(message_id)),
        ]

    def _transact_in_chunks(self, actions: list[dict[str, Any]]) -> None:
        # Over 100 actions or 4 MB cannot be one transaction; callers order the actions
        # so that the ones that must happen first are in the first chunk.
        for chunk in transaction_chunks(actions):
            self.dynamo.transact(chunk)
