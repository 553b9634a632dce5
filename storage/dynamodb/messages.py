"""Message operations of :class:`~storage.dynamodb.memory.DynamoDBMemoryStore`.

A turn (its messages and the thread bump) is one TransactWriteItems: each message
item, its locator (``MSGID#<id>``, put only if absent) and one update per thread
(``updated_at``, the index sort key and ``message_count``; the thread must exist).
If a locator already exists (a re-save, a move) the transaction is cancelled and
the slow path reads the locators and writes again with exact conditions, so the
common case costs one request and the rare one three.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb._base import check_time, page_slice
from storage.dynamodb.codec import Item, get_n, get_s, get_time, ms, s, sort_key
from storage.dynamodb.driver import (
    TRANSACTION_ACTIONS,
    TRANSACTION_BYTES,
    Dynamo,
    TransactionCanceled,
    action_size,
    delete,
    put,
    transaction_chunks,
    update,
)
from storage.dynamodb.keys import (
    MSG_HIGH,
    MSG_LOW,
    Location,
    locator_key,
    message_sk,
    thread_key,
)
from storage.dynamodb.offload import REF_SUFFIX, Offloader
from storage.dynamodb.schema import (
    NEIGHBOURS_NEXT,
    NEIGHBOURS_PREVIOUS,
    PENDING_EMBEDDINGS,
    STRUCTURE_VERSION,
    UPD,
    VECTOR_ATTRIBUTE,
)
from storage.dynamodb.windows import BatchedWindows, Hints
from storage.errors import (
    ConflictError,
    MessageIdConflictError,
    NotFoundError,
    ValidationError,
)
from storage.protocols import Direction
from storage.records import Include, Message, MessageUpdate, Page, apply_message_update, page_of
from storage.timeutil import utcnow
from storage.vector_rules import embeddable, text_of

log = logging.getLogger(__name__)

_BIG = ("content",)
CONTENT_HASH = "ch"
"""The locator's hash of the message's text and resource (see :func:`content_hash`)."""
MESSAGE_ATTRIBUTES = (
    "id", "thread_id", "role", "type", "created_at", "content", "content" + REF_SUFFIX,
    "resource_id",
)
"""Every attribute a message item may hold besides its key, the vector and its lists."""
_RETRIES = 5
_SIZE_MARGIN = 64 * 1024


class MessageOps:
    """Message methods; mixed into the memory store (which sets these attributes)."""

    dynamo: Dynamo
    table: str
    offloader: Offloader
    # Set by attach_vectors when the vectors live on these items: a write that drops
    # an embeddable message's vector marks it on its thread for re-embedding.
    _marks_reembedding: bool = False
    # From RetentionAware: the thread's TTL update (storage.dynamodb.retention).
    expiry_update: Callable[[str, datetime], tuple[str, str, dict[str, Any]]]

    # --- writes -------------------------------------------------------------------

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
        items: list[Item] = []
        uploads: list[str] = []
        try:
            for record in records:
                item = self._message_item(record)
                uploads += self.offloader.fit(item, _BIG, (record.thread_id, record.id))
                items.append(item)
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
                        _refuse_moves(records, locators)
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
            mine, moved, dropped = self._save_actions(message, item, locators, hashes or {})
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
            for thread_id in _reshaped(message, get_s(item, "sk") or "", old):
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

    def _save_actions(
        self,
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
            actions = [put(self.table, item),
                       put(self.table, locator, "attribute_not_exists(pk)")]
            return actions, {message.thread_id: 1}, False
        seen = hashes.get(message.id)
        if old == (message.thread_id, new_sk):
            actions = [in_place(self.table, item, keep_vector=seen == digest),
                       put(self.table, locator, **_same_location(old, seen))]
            return actions, {}, seen != digest
        # Moved to another thread, or re-timed: the old item goes, the locator follows.
        actions = [put(self.table, item)]
        actions.append(delete(self.table, {"pk": s(f"THREAD#{old[0]}"), "sk": s(old[1])}))
        actions.append(put(self.table, locator, **_same_location(old, seen)))
        deltas = {old[0]: -1}
        deltas[message.thread_id] = deltas.get(message.thread_id, 0) + 1  # 0 when re-timed
        return actions, deltas, True

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
        items: list[Item] = []
        uploads: list[str] = []
        try:
            for record in records:
                item = self._message_item(record)
                uploads += self.offloader.fit(item, _BIG, (record.thread_id, record.id))
                items.append(item)
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
                self.table, [_message_key(t, k) for t, k in locators.values()]
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
            delete(self.table, _message_key(thread_id, sk)),
            delete(self.table, locator_key(message_id)),
        ]

    def _transact_in_chunks(self, actions: list[dict[str, Any]]) -> None:
        # Over 100 actions or 4 MB cannot be one transaction; callers order the actions
        # so that the ones that must happen first are in the first chunk.
        for chunk in transaction_chunks(actions):
            self.dynamo.transact(chunk)

    # --- reads --------------------------------------------------------------------

    def get_messages(self, message_ids: Sequence[str]) -> list[Message]:
        """The messages with these ids, in the order asked; unknown ids skipped."""
        ids = v.check_ids(message_ids, "message id")
        if not ids:
            return []
        found = {m.id: m for m in self._load(self._locate(ids))}
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def list_messages(
        self,
        thread_id: str,
        *,
        resource_id: str | None = None,
        include: Sequence[Include] = (),
        start: Any = None,
        end: Any = None,
        start_exclusive: bool = False,
        end_exclusive: bool = False,
        page: int = 0,
        per_page: int | None = 40,
        direction: Direction = "asc",
    ) -> Page[Message]:
        """One page of a thread's messages plus ``include`` windows.

        The newest page, unfiltered, is one descending Query of ``per_page + 1`` items:
        the thread item sorts after its messages and carries ``message_count``.
        ``per_page=0`` reads no message of the thread: its total is the thread item's
        count, or a ``Select=COUNT`` Query when filtered. Windows: ``windows.py``.
        """
        v.check_id(thread_id, "thread id")
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        wanted = v.check_includes(include)
        low = check_time(start, "start")
        high = check_time(end, "end")
        v.check_paging(page, per_page)
        v.check_direction(direction)
        forward = direction == "asc"
        filtered = low is not None or high is not None or resource_id is not None
        if per_page == 0 and filtered:
            chosen: list[Message] = []
            total = self._count(thread_id, resource_id, low, high, start_exclusive, end_exclusive)
        elif filtered or per_page is None:
            own = self._filtered(thread_id, resource_id, low, high, start_exclusive, end_exclusive)
            if not forward:
                own.reverse()
            total = len(own)
            chosen = page_slice(own, page, per_page)
        else:
            chosen, total = self._newest_or_oldest(thread_id, page, per_page, forward)
        by_id = {m.id: m for m in chosen}
        for m in self._windows().read(wanted, resource_id):
            by_id.setdefault(m.id, m)
        items = sorted(by_id.values(), key=lambda m: (m.created_at, m.id), reverse=not forward)
        return page_of(items, total=total, page=page, per_page=per_page)

    def get_windows(
        self, include: Sequence[Include], *, resource_id: str | None = None
    ) -> list[Message]:
        """The ``include`` windows alone, oldest first (see ``storage.dynamodb.windows``).

        What ``list_messages(..., include=include, per_page=0)`` adds to its page, with
        no page and no total to count: semantic recall's read. With ``resource_id``, an
        included message of another resource gives nothing, and windows keep only that
        resource's messages.
        """
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        return self._windows().read(v.check_includes(include), resource_id)

    _window_hints: Hints | None = None

    def _windows(self) -> BatchedWindows:
        return BatchedWindows(
            self.dynamo, self.table, self._record, self._locate, self._window_hints
        )

    def _newest_or_oldest(
        self, thread_id: str, page: int, per_page: int, forward: bool
    ) -> tuple[list[Message], int]:
        want = (page + 1) * per_page
        # Descending, the thread item (sk "THREAD") comes first and carries the count.
        items = self.dynamo.query_items(
            self.table,
            limit=want + (0 if forward else 1),
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": s(f"THREAD#{thread_id}"),
                ":lo": s(MSG_LOW),
                ":hi": s("THREAD"),
            },
            ScanIndexForward=forward,
            ConsistentRead=True,
        )
        thread = next((i for i in items if get_s(i, "sk") == "THREAD"), None)
        rows = [i for i in items if get_s(i, "sk") != "THREAD"]
        if thread is None and forward and len(rows) >= want:
            thread = self.dynamo.get(self.table, thread_key(thread_id))
        total = get_n(thread, "message_count") if thread is not None else len(rows)
        messages = [self._record(i) for i in page_slice(rows, page, per_page)]
        return messages, max(total, len(rows))

    def _filtered(
        self,
        thread_id: str,
        resource_id: str | None,
        low: datetime | None,
        high: datetime | None,
        start_exclusive: bool,
        end_exclusive: bool,
    ) -> list[Message]:
        """Every message of the thread in the time range (ascending), all pages read."""
        lo = MSG_LOW + (codec.sort_time(low) if low is not None else "")
        hi = MSG_LOW + codec.sort_time(high) + "$" if high is not None else MSG_HIGH
        items = self.dynamo.query_items(
            self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": s(f"THREAD#{thread_id}"),
                ":lo": s(lo),
                ":hi": s(hi),
            },
            ConsistentRead=True,
        )
        out = []
        for item in items:
            created = get_time(item, "created_at")
            if start_exclusive and low is not None and created == low:
                continue
            if end_exclusive and high is not None and created == high:
                continue
            if resource_id is not None and get_s(item, "resource_id") != resource_id:
                continue
            out.append(self._record(item))
        return out

    def _count(
        self,
        thread_id: str,
        resource_id: str | None,
        low: datetime | None,
        high: datetime | None,
        start_exclusive: bool,
        end_exclusive: bool,
    ) -> int:
        """How many messages :meth:`_filtered` would return, without reading them back.

        A ``Select=COUNT`` Query: the bounds are key conditions (exclusive ones just
        past the bounding millisecond), the resource a filter.
        """
        lo = MSG_LOW
        if low is not None:
            lo += codec.sort_time(low) + ("$" if start_exclusive else "")
        hi = MSG_HIGH
        if high is not None:
            hi = MSG_LOW + codec.sort_time(high) + ("" if end_exclusive else "$")
        if lo > hi:
            return 0  # an empty range (DynamoDB refuses BETWEEN with low > high)
        params: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": s(f"THREAD#{thread_id}"), ":lo": s(lo), ":hi": s(hi),
            },
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        if resource_id is not None:
            params["FilterExpression"] = "resource_id = :r"
            params["ExpressionAttributeValues"][":r"] = s(resource_id)
        return sum(int(page.get("Count", 0)) for page in self.dynamo.query(self.table, **params))

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
        keys = [_message_key(t, k) for t, k in locators.values()]
        items = self.dynamo.batch_get(self.table, keys)
        refs = [uri for item in items for uri in Offloader.refs(item)]
        return [self._record(i) for i in items], refs

    # --- codec --------------------------------------------------------------------

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

    def _record(self, item: Item) -> Message:
        self.offloader.resolve(item, _BIG)
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


def _reshaped(message: Message, new_sk: str, old: Location | None) -> list[str]:
    """The threads whose set of messages saving ``message`` changes (added, moved, re-timed)."""
    if old is None:
        return [message.thread_id]
    if old == (message.thread_id, new_sk):
        return []  # rewritten in place: its neighbours stay the same
    return [old[0], message.thread_id]


def _message_key(thread_id: str, sk: str) -> Item:
    return {"pk": s(f"THREAD#{thread_id}"), "sk": s(sk)}


def _refuse_moves(records: Sequence[Message], locators: dict[str, Location]) -> None:
    """Raise when a message's locator says it lives in another thread."""
    for record in records:
        where = locators.get(record.id)
        if where is not None and where[0] != record.thread_id:
            raise MessageIdConflictError(record.id)


def _same_location(old: Location, digest: str | None) -> dict[str, Any]:
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




# The key helpers moved to keys.py; these names stay importable from here.
__all__ = [
    "MSG_HIGH",
    "MSG_LOW",
    "Location",
    "MessageOps",
    "locator_key",
    "message_sk",
    "thread_key",
]
