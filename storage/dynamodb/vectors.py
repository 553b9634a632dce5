"""``DynamoDBVectorStore``: vectors on the message items, searched by a native vector index.

A message's vector is the attribute ``vec`` (a list of float32 numbers) of the message
item the memory table already holds, so deleting a message or a thread deletes its
vector, a rewrite of the item (an edit, a move, a re-save) drops it, and there is no
second datastore. The table's vector index ``message-vectors`` is partitioned by the
item's ``resource_id`` and filters on ``thread_id`` (see ``schema.with_vector_index``):
a search names the resource, so it can never see another resource's messages.

Each item with a vector also lists its neighbours' sort keys (``nbp``, ``nbn``), which
the index projects, so the windows semantic recall reads around its matches are one
BatchGetItem (``neighbours.py`` says when a list can be trusted, ``windows.py`` reads).

Requests: an upsert is one ``Query`` per thread (its newest messages and the thread
item: what the neighbour lists need), then one ``TransactWriteItems`` of ``UpdateItem``
actions (a thread's vectors, the lists that changed, the thread's certificate; up to
100 actions), each conditional on the message item still holding that resource, so
a message deleted meanwhile is skipped, never recreated; the first upsert also puts
the ``(embedder, dimensions)`` binding item in the same transaction. A search is one
``SearchVectors`` (plus one ``GetItem`` of the binding, once per process); where it
found each message is remembered (:class:`~storage.dynamodb.windows.Hints`) for the
window read that follows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from storage import validation as v
from storage import vector_rules as rules
from storage.dynamodb import neighbours as nb
from storage.dynamodb.codec import _EPOCH_SHIFT, Item, get_n, get_s, s, sort_key
from storage.dynamodb.driver import (
    TRANSACTION_ACTIONS,
    Dynamo,
    TransactionCanceled,
    update,
)
from storage.dynamodb.itemsize import ITEM_LIMIT, attribute_size
from storage.dynamodb.keys import MSG_LOW, locator_key, thread_key
from storage.dynamodb.offload import DEFAULT_THRESHOLD
from storage.dynamodb.schema import (
    CRT,
    MESSAGE_VECTORS,
    PENDING_EMBEDDINGS,
    RES,
    VECTOR_ATTRIBUTE,
)
from storage.dynamodb.vector_errors import INDEX_NOT_READY_RETRY, search_unavailable
from storage.dynamodb.windows import Hint, Hints
from storage.errors import (
    ConflictError,
    ItemTooLargeError,
    UnavailableError,
    ValidationError,
)
from storage.records import MessageVector, VectorMatch
from storage.timeutil import from_epoch_ms

_BINDING_KEY: Item = {"pk": s("VECTOR_INDEX"), "sk": s("BINDING")}
_TIE_SLACK = 8
_RETRIES = 5


def vector_value(vector: Sequence[float]) -> dict[str, Any]:
    """The vector as a DynamoDB list of numbers, at float32 precision (9 digits)."""
    return {"L": [{"N": format(x, ".9g")} for x in rules.to_float32(vector)]}


def vector_bytes(dimensions: int) -> int:
    """The most bytes the ``vec`` attribute of ``dimensions`` numbers can take."""
    # A 9-digit number with a sign and an exponent is at most 1 + 5 pairs + 1 = 7 bytes
    # (itemsize.number_size); plus 1 per list element, 3 for the list, the name.
    return attribute_size(VECTOR_ATTRIBUTE, {"L": []}) + dimensions * (1 + 7)


class DynamoDBVectorStore:
    """Message vectors on the memory table's items (see ``VectorStore``).

    Args:
        dynamo: the client the memory domain uses.
        table: the memory table (``<prefix>-memory``).
        dimensions: the table's vector index dimensions; ``None``: read on first use.
        offload_threshold: the memory domain's item size cap before the vector.
    """

    def __init__(
        self,
        dynamo: Dynamo,
        table: str,
        *,
        dimensions: int | None = None,
        offload_threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        self.dynamo = dynamo
        self.table = table
        self._dimensions = dimensions
        self._threshold = offload_threshold
        self._bound: tuple[str, int] | None = None  # permanent once set: safe to cache
        self.hints = Hints()
        self._pending: dict[str, frozenset[str]] = {}
        self._pending_lock = threading.Lock()

    def attach_memory(self, memory: Any) -> None:
        """Nothing to wire: the vectors are attributes of this table's message items."""

    # --- writes ---------------------------------------------------------------------

    def upsert(self, vectors: Sequence[MessageVector]) -> None:
        """Store each message's vector on its item (see ``VectorStore.upsert``).

        The threads' neighbour lists are brought up to date in the same transaction
        (``neighbours.py``): one Query per thread first, newest messages first.
        """
        batch = rules.check_vectors(vectors)
        if not batch:
            return
        embedder, dimensions = batch[0].embedder, batch[0].dimensions
        self._check_dimensions(dimensions)
        rules.check_binding(self._binding(), embedder, dimensions)
        if self._threshold + vector_bytes(dimensions) + nb.list_bytes() > ITEM_LIMIT:
            raise ItemTooLargeError(
                f"a {dimensions}-dimension vector does not fit beside a message item of up "
                f"to {self._threshold} bytes; lower offload_threshold"
            )
        by_thread: dict[str, dict[str, tuple[dict[str, Any], str]]] = {}
        for item in batch:
            sk = MSG_LOW + sort_key(item.created_at, item.message_id)
            by_thread.setdefault(item.thread_id, {})[sk] = (
                vector_value(item.vector), item.resource_id,
            )
        for _ in range(_RETRIES):
            by_thread = self._store(by_thread, embedder, dimensions)
            if not by_thread:
                return
        raise ConflictError("messages kept changing while their vectors were stored")

    def _store(
        self,
        by_thread: dict[str, dict[str, tuple[dict[str, Any], str]]],
        embedder: str,
        dimensions: int,
    ) -> dict[str, dict[str, tuple[dict[str, Any], str]]]:
        """One attempt: read each thread, write vectors, lists and certificates.

        Returns:
            The threads to try again (a write cancelled because something changed).
        """
        plans: list[tuple[nb.ThreadState, list[dict[str, Any]]]] = []
        storing = False
        for thread_id, targets in sorted(by_thread.items()):
            state = nb.read_thread(self.dynamo, self.table, thread_id, targets)
            if state is None:
                continue  # the thread is gone, and its messages with it
            # A message gone, moved or re-timed since it was embedded is not found:
            # its vector is skipped, never stored on its own.
            writes, found = nb.plan(state, targets)
            storing = storing or bool(found)
            embedded = {sk.split("#", 2)[2] for sk in found}
            self._note_pending(thread_id, state.pending - embedded)
            if writes or not nb.up_to_date(state):
                actions = [nb.write_action(self.table, thread_id, w) for w in writes]
                plans.append((state, [*actions,
                                      nb.certify_action(self.table, state, embedded)]))
        bind = self._bound is None and storing
        binding = [self._binding_put(embedder, dimensions)] if bind else []
        done = set(by_thread) - {state.thread_id for state, _ in plans}
        for actions, finished in nb.transactions(binding, plans, self.table):
            try:
                self.dynamo.transact(actions)
            except TransactionCanceled as exc:
                if binding and exc.reasons[:1] == ["ConditionalCheckFailed"]:
                    self._bound = None
                    rules.check_binding(self._read_binding(), embedder, dimensions)
                return {t: v for t, v in by_thread.items() if t not in done}
            if binding:
                self._bound, binding = (embedder, dimensions), []
            done |= finished
        return {}

    # --- re-embedding ----------------------------------------------------------------

    def _note_pending(self, thread_id: str, ids: frozenset[str]) -> None:
        with self._pending_lock:
            if ids:
                self._pending[thread_id] = ids
            else:
                self._pending.pop(thread_id, None)

    def take_pending(self, thread_ids: Iterable[str]) -> list[str]:
        """Ids of messages of these threads whose vector a write dropped (an edit of
        their text, a move), as the last :meth:`upsert` here read them; taken once.

        The memory domain marks them on the thread item (``pe``) in the write that
        drops the vector; an upsert storing their vectors unmarks them. The embed job
        re-embeds them after each upsert, so an edited message is found again by its
        new text after the next turn of its thread.
        """
        with self._pending_lock:
            return sorted({i for t in thread_ids for i in self._pending.pop(t, ())})

    def settle_pending(self, thread_id: str, message_ids: Sequence[str]) -> None:
        """Unmark messages that will never get a vector (gone, or no text to embed)."""
        ids = sorted(set(v.check_ids(message_ids, "message id")))
        if not ids:
            return
        try:
            self.dynamo.call(
                "UpdateItem", TableName=self.table, Key=thread_key(v.check_id(
                    thread_id, "thread id")),
                UpdateExpression="DELETE #pe :ids", ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#pe": PENDING_EMBEDDINGS},
                ExpressionAttributeValues={":ids": {"SS": ids}},
            )
        except ConflictError:
            return  # the thread is gone, and its marks with it

    def _binding_put(self, embedder: str, dimensions: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": {
                    **_BINDING_KEY,
                    "embedder": s(embedder),
                    "dimensions": {"N": str(dimensions)},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def delete(self, message_ids: Sequence[str]) -> None:
        """Remove these messages' vectors; unknown ids are ignored."""
        ids = list(dict.fromkeys(v.check_ids(message_ids, "message id")))
        if not ids:
            return
        found = self.dynamo.batch_get(self.table, [locator_key(i) for i in ids])
        keys = [
            {"pk": s(f"THREAD#{get_s(i, 'thread_id')}"), "sk": s(get_s(i, "msk") or "")}
            for i in found
        ]
        self._remove(keys)

    def delete_thread(self, thread_id: str) -> None:
        """Remove the vectors of a thread's messages (one Query, then the updates)."""
        v.check_id(thread_id, "thread id")
        self._delete_thread(thread_id)

    def _delete_thread(self, thread_id: str) -> int:
        items = self.dynamo.query_items(
            self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
            FilterExpression="attribute_exists(#vec)",
            ProjectionExpression="pk, sk",
            ExpressionAttributeNames={"#vec": VECTOR_ATTRIBUTE},
            ExpressionAttributeValues={":pk": s(f"THREAD#{thread_id}"), ":msg": s(MSG_LOW)},
            ConsistentRead=True,
        )
        self._remove([{"pk": i["pk"], "sk": i["sk"]} for i in items])
        return len(items)

    def delete_resource(self, resource_id: str) -> int:
        """Remove the vectors of every message of a resource's threads; how many."""
        v.check_id(resource_id, "resource id")
        threads = self.dynamo.query_items(
            self.table,
            IndexName="by-resource-created",
            KeyConditionExpression="#res = :res",
            ExpressionAttributeNames={"#res": RES, "#crt": CRT},
            ExpressionAttributeValues={":res": s(resource_id)},
            ProjectionExpression="pk, #crt",
        )
        removed = 0
        for item in threads:
            pk = get_s(item, "pk") or ""
            if pk.startswith("THREAD#"):
                removed += self._delete_thread(pk.removeprefix("THREAD#"))
        return removed

    def _remove(self, keys: list[Item]) -> None:
        actions = [
            update(
                self.table, key, "REMOVE #vec, #p, #n",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={
                    "#vec": VECTOR_ATTRIBUTE, "#p": nb.PREVIOUS, "#n": nb.NEXT,
                },
            )
            for key in keys
        ]
        for start in range(0, len(actions), TRANSACTION_ACTIONS):
            chunk = actions[start : start + TRANSACTION_ACTIONS]
            try:
                self.dynamo.transact(chunk)
            except TransactionCanceled:
                # Some item went meanwhile (its vector with it): remove the rest one by one.
                for action in chunk:
                    try:
                        self.dynamo.transact([action])
                    except TransactionCanceled:
                        continue

    # --- reads ----------------------------------------------------------------------

    def search(
        self,
        vector: Sequence[float],
        *,
        embedder: str,
        resource_id: str,
        thread_id: str | None = None,
        top_k: int = rules.DEFAULT_TOP_K,
        threshold: float | None = None,
    ) -> list[VectorMatch]:
        """The nearest messages of the resource: one ``SearchVectors`` request."""
        query = rules.check_query(
            vector, embedder=embedder, resource_id=resource_id, thread_id=thread_id,
            top_k=top_k, threshold=threshold,
        )
        self._check_dimensions(query.dimensions)
        bound = self._binding()
        if bound is None:
            return []
        rules.check_binding(bound, query.embedder, query.dimensions)
        condition = "resource_id = :resource"
        values: dict[str, Any] = {":resource": s(query.resource_id)}
        if query.thread_id is not None:
            condition += " AND thread_id = :thread"
            values[":thread"] = s(query.thread_id)
        try:
            out = self.dynamo.call(
                "SearchVectors",
                TableName=self.table,
                IndexName=MESSAGE_VECTORS,
                SearchVector=vector_value(query.vector)["L"],
                TopK=min(rules.MAX_TOP_K, query.top_k + _TIE_SLACK),
                SearchConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except (ValidationError, UnavailableError) as exc:
            translated = search_unavailable(exc)
            if translated is exc:
                raise
            raise translated from exc
        matches = []
        for result in out.get("SearchResults", []):
            item = result.get("Item", {})
            # sk = MSG#<16-digit shifted epoch ms>#<message id>; pk = THREAD#<thread>
            sk = get_s(item, "sk") or ""
            _, created, message_id = sk.split("#", 2)
            thread = (get_s(item, "pk") or "").removeprefix("THREAD#")
            lists = nb.lists_of(item)  # projected by the index (None with KEYS_ONLY)
            self.hints.note(message_id, Hint(thread, sk, *(lists or (None, None))))
            matches.append(
                VectorMatch(
                    message_id=message_id,
                    thread_id=thread,
                    resource_id=get_s(item, "resource_id") or query.resource_id,
                    created_at=_sort_time(created),
                    score=1.0 - float(result.get("Score", 2.0)),
                )
            )
        return rules.rank(matches, query.top_k, query.threshold)

    def index(self) -> tuple[str, int] | None:
        """The ``(embedder, dimensions)`` this table's vectors are bound to, or ``None``."""
        return self._binding()

    # --- helpers --------------------------------------------------------------------

    def _binding(self) -> tuple[str, int] | None:
        return self._bound if self._bound is not None else self._read_binding()

    def _read_binding(self) -> tuple[str, int] | None:
        item = self.dynamo.get(self.table, _BINDING_KEY)
        if item is not None:
            self._bound = (get_s(item, "embedder") or "", get_n(item, "dimensions"))
        return self._bound

    def _check_dimensions(self, dimensions: int) -> None:
        if self._dimensions is None:
            self._dimensions = self._index_dimensions()
        if dimensions != self._dimensions:
            raise ValidationError(
                f"the table's vector index holds {self._dimensions}-dimension vectors; "
                f"got {dimensions} dimensions"
            )

    def _index_dimensions(self) -> int:
        table = self.dynamo.call("DescribeTable", TableName=self.table)["Table"]
        for index in table.get("VectorIndexes", []):
            if index.get("IndexName") == MESSAGE_VECTORS:
                return int(index["Dimensions"])
        raise UnavailableError(
            f"the table {self.table} has no vector index {MESSAGE_VECTORS!r}: deploy with the "
            "CDK context vectorDimensions, or open dynamodb://...?vector_dimensions=N",
            retry_after=INDEX_NOT_READY_RETRY,
        )

    def __repr__(self) -> str:
        return f"DynamoDBVectorStore(table={self.table!r}, dimensions={self._dimensions!r})"


def _sort_time(text: str) -> datetime:
    """Invert ``codec.sort_time`` (16 digits of epoch ms shifted to 0001-01-01)."""
    return from_epoch_ms(int(text) - _EPOCH_SHIFT)
