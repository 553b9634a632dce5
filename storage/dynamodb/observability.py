"""``DynamoDBObservabilityStore``: spans keyed ``TRACE#<trace>`` / ``SPAN#<span>``.

A trace is one Query. Root spans also carry sparse index keys (``all``, ``ent``,
``res``, ``thr`` with ``started``) so listing traces is a Query on the index of the
most selective filter. Span payloads (input, output, error, attributes, metadata)
are JSON strings the overflow rule may offload. With a retention configured, each
span carries ``expires_at`` (epoch seconds) for DynamoDB's TTL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb._base import DynamoDBDomain, check_time, index_items, within
from storage.dynamodb.codec import Item, get_s, get_time, ms, s, sort_key
from storage.dynamodb.driver import TransactionCanceled, put, transaction_chunks
from storage.dynamodb.offload import REF_SUFFIX, Offloader
from storage.dynamodb.retention import RetentionAware, SpanPruning
from storage.dynamodb.schema import ALL, RES, TTL
from storage.errors import NotFoundError
from storage.keys import offload_prefix
from storage.memory.observability import check_span_record, check_span_update
from storage.paging import has_fields, newest_page
from storage.records import Page, Span, SpanUpdate

log = logging.getLogger(__name__)

_BIG = ("input", "output", "error", "attributes", "metadata")
_TEXT = ("entity_type", "entity_id", "entity_name", "resource_id", "thread_id", "run_id")


def span_key(trace_id: str, span_id: str) -> Item:
    """A span's key."""
    return {"pk": s(f"TRACE#{trace_id}"), "sk": s(f"SPAN#{span_id}")}


class DynamoDBObservabilityStore(SpanPruning, RetentionAware, DynamoDBDomain):
    """Traces on DynamoDB (see :class:`~storage.protocols.ObservabilityStore`).

    Args:
        span_ttl_days: when set, spans expire this many days after they are written.
    """

    def __init__(self, *args: Any, span_ttl_days: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.span_ttl_days = span_ttl_days

    def create_spans(self, spans: Sequence[Span]) -> None:
        """Store spans (replacing same keys) with BatchWriteItem, 25 a request."""
        batch = list(spans)
        for span in batch:
            check_span_record(span)
        unique = {(sp.trace_id, sp.span_id): sp for sp in batch}
        uploads: list[str] = []
        items = []
        try:
            for span in unique.values():
                item = self._item(span)
                uploads += self.offloader.fit(item, _BIG, (span.trace_id, span.span_id))
                items.append(item)
            self.dynamo.batch_write(self.table, [{"PutRequest": {"Item": i}} for i in items])
        except Exception:
            self.offloader.discard(uploads)
            raise

    def update_spans(self, updates: Sequence[SpanUpdate]) -> None:
        """Set fields of existing spans, all or nothing (read, then one transaction).

        Raises:
            NotFoundError: a span does not exist.
            ValidationError: a field is not a :class:`Span` field, or is a key field.
        """
        batch = list(updates)
        for u in batch:
            check_span_update(u)
        if not batch:
            return
        keys = {(u.trace_id, u.span_id) for u in batch}
        found = {
            (sp.trace_id, sp.span_id): sp
            for sp in (
                self._record(i)
                for i in self.dynamo.batch_get(self.table, [span_key(*k) for k in keys])
            )
        }
        for u in batch:
            key = (u.trace_id, u.span_id)
            if key not in found:
                raise NotFoundError(f"span {u.span_id!r} of {u.trace_id!r} not found")
            updated = replace(found[key], **dict(u.fields))
            check_span_record(updated)
            found[key] = updated
        uploads: list[str] = []
        actions = []
        try:
            for span in (found[k] for k in keys):
                item = self._item(span)
                uploads += self.offloader.fit(item, _BIG, (span.trace_id, span.span_id))
                actions.append(put(self.table, item, "attribute_exists(pk)"))
            for chunk in transaction_chunks(actions):
                self.dynamo.transact(chunk)
        except TransactionCanceled as exc:
            self.offloader.discard(uploads)
            raise NotFoundError(f"a span was deleted while being updated: {exc}") from exc
        except Exception:
            self.offloader.discard(uploads)
            raise

    def get_trace(self, trace_id: str) -> list[Span]:
        """Every span of the trace (one Query, all pages), by ``started_at`` then id."""
        v.check_id(trace_id, "trace id")
        items = self.dynamo.query_items(
            self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(f"TRACE#{trace_id}")},
            ConsistentRead=True,
        )
        spans = [self._record(i) for i in items]
        spans.sort(key=lambda sp: (sp.started_at, sp.span_id))
        return spans

    def list_traces(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        resource_id: str | None = None,
        thread_id: str | None = None,
        start: Any = None,
        end: Any = None,
        page: int = 0,
        per_page: int | None = 50,
    ) -> Page[Span]:
        """Root spans, newest first, from the index of the most selective filter."""
        wanted = {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "resource_id": resource_id,
            "thread_id": thread_id,
        }
        v.check_filters(wanted)
        low = check_time(start, "start")
        high = check_time(end, "end")
        v.check_paging(page, per_page)
        if entity_type is not None and entity_id is not None:
            part = ("ent", f"{entity_type}#{entity_id}")
            items = index_items(self, "roots-by-entity", part, "started", low, high)
        elif thread_id is not None:
            items = index_items(self, "roots-by-thread", ("thr", thread_id), "started", low, high)
        elif resource_id is not None:
            items = index_items(self, "roots-by-resource", (RES, resource_id), "started", low, high)
        else:
            items = index_items(self, "roots", (ALL, "ROOT"), "started", low, high)
        matches = []
        for item in items:
            started = get_time(item, "started_at")
            if (
                started is not None
                and within(started, low, high)
                and has_fields(wanted, partial(get_s, item))
            ):
                matches.append(item)
        return newest_page(
            matches,
            key=lambda i: (
                get_time(i, "started_at"), get_s(i, "trace_id") or "", get_s(i, "span_id") or ""
            ),
            page=page,
            per_page=per_page,
            record=self._record,
        )

    def delete_traces(self, trace_ids: Sequence[str]) -> None:
        """Delete every span of these traces: a keys-only Query, then batched deletes."""
        doomed = list(dict.fromkeys(v.check_ids(trace_ids, "trace id")))
        refs = ", ".join(f"{b}{REF_SUFFIX}" for b in _BIG)
        for trace_id in doomed:
            items = self.dynamo.query_items(
                self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": s(f"TRACE#{trace_id}")},
                ProjectionExpression=f"pk, sk, {refs}",
                ConsistentRead=True,
            )
            requests = [
                {"DeleteRequest": {"Key": {"pk": i["pk"], "sk": i["sk"]}}} for i in items
            ]
            self.dynamo.batch_write(self.table, requests)
            if self.blobs is not None and any(Offloader.refs(i) for i in items):
                self.blobs.delete_prefix(offload_prefix("observability", trace_id))

    def _item(self, span: Span) -> Item:
        item: Item = {
            **span_key(span.trace_id, span.span_id),
            "trace_id": s(span.trace_id),
            "span_id": s(span.span_id),
            "name": s(span.name),
            "span_type": s(span.span_type),
            "started_at": ms(span.started_at),
        }
        if span.parent_span_id is not None:
            item["parent_span_id"] = s(span.parent_span_id)
        if span.ended_at is not None:
            item["ended_at"] = ms(span.ended_at)
        for name in _BIG:
            item[name] = s(codec.dumps(getattr(span, name)))
        for name in _TEXT:
            value = getattr(span, name)
            if value is not None:
                item[name] = s(value)
        if span.is_root:
            started = sort_key(span.started_at, span.trace_id)
            item[ALL] = s("ROOT")
            item["started"] = s(started)
            if span.entity_type is not None and span.entity_id is not None:
                item["ent"] = s(f"{span.entity_type}#{span.entity_id}")
            if span.resource_id is not None:
                item[RES] = s(span.resource_id)
            if span.thread_id is not None:
                item["thr"] = s(span.thread_id)
        item.update(self.expiry("spans", span.started_at))
        if TTL not in item and self.span_ttl_days:
            # The older setting (STOWAGE_SPAN_TTL_DAYS): days after the write.
            item[TTL] = codec.n(int(time.time()) + self.span_ttl_days * 86_400)
        return item

    def _record(self, item: Item) -> Span:
        self.offloader.resolve(item, _BIG)
        started = get_time(item, "started_at")
        assert started is not None
        values = {name: codec.loads(get_s(item, name) or "null") for name in _BIG}
        return Span(
            trace_id=get_s(item, "trace_id") or "",
            span_id=get_s(item, "span_id") or "",
            name=get_s(item, "name") or "",
            span_type=get_s(item, "span_type") or "",
            started_at=started,
            parent_span_id=get_s(item, "parent_span_id"),
            ended_at=get_time(item, "ended_at"),
            input=values["input"],
            output=values["output"],
            error=values["error"],
            attributes=values["attributes"] or {},
            metadata=values["metadata"] or {},
            **{name: get_s(item, name) for name in _TEXT},
        )
