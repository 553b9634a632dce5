"""Resource operations of :class:`~storage.dynamodb.memory.DynamoDBMemoryStore`.

A resource is one item, ``RES#<id>`` / ``RESOURCE``, beside its thread counter. Its
working memory and metadata are its documents (``storage.dynamodb.documents``):
edited in place while the item fits, rewritten whole with the bigger one offloaded to
``offload/resources/<id>/`` when it does not, like every other big attribute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb.codec import Item, get_s, get_time, ms, s
from storage.dynamodb.documents import Documents, DocumentWriter
from storage.dynamodb.driver import Dynamo
from storage.dynamodb.offload import Offloader
from storage.errors import ConflictError, NotFoundError
from storage.records import Resource
from storage.timeutil import utcnow

RESOURCE_DOCS = Documents(text="working_memory", domain="resources")
"""A resource's documents (offloaded under ``offload/resources/<id>/``)."""


def resource_key(resource_id: str) -> Item:
    """A resource's key."""
    return {"pk": s(f"RES#{resource_id}"), "sk": s("RESOURCE")}


def resource_from_item(item: Item) -> Resource:
    """A resource item (documents resolved) as a record."""
    created = get_time(item, "created_at")
    updated = get_time(item, "updated_at")
    assert created is not None and updated is not None
    return Resource(
        id=get_s(item, "id") or "",
        working_memory=get_s(item, "working_memory"),
        metadata=codec.from_av(item.get("metadata", {"M": {}})),
        created_at=created,
        updated_at=updated,
    )


class ResourceOps:
    """Resource methods; mixed into the memory store (which sets these attributes)."""

    dynamo: Dynamo
    table: str
    offloader: Offloader

    _finish_pending_blobs: Callable[[], None]

    @property
    def resource_docs(self) -> DocumentWriter:
        """Writes working memory and resource metadata (in place, or whole and offloaded)."""
        return DocumentWriter(self.dynamo, self.table, self.offloader, RESOURCE_DOCS)

    def get_resource(self, resource_id: str) -> Resource | None:
        """The resource, or ``None``."""
        v.check_id(resource_id, "resource id")
        item = self.resource_docs.read(resource_key(resource_id))
        return resource_from_item(item) if item is not None else None

    def update_resource(
        self,
        resource_id: str,
        *,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Resource:
        """Create the resource if missing, set working memory, merge metadata server side.

        One conditional UpdateItem while the item provably fits; a working memory or
        metadata too big for an item is offloaded (no blob store: ``ItemTooLargeError``).
        """
        v.check_id(resource_id, "resource id")
        patch = v.check_resource_patch(working_memory, metadata)
        now = utcnow()

        def create() -> Item:
            item: Item = {
                **resource_key(resource_id),
                "id": s(resource_id),
                "metadata": codec.to_av(patch),
                "created_at": ms(now),
                "updated_at": ms(now),
            }
            if working_memory is not None:
                item["working_memory"] = s(working_memory)
            return item

        item = self.resource_docs.update(
            resource_key(resource_id),
            key_id=resource_id,
            what=f"resource {resource_id!r}",
            text=working_memory,
            patch=patch,
            extra={"updated_at": ms(now)},
            create=create,
        )
        resolved = self.resource_docs.read(resource_key(resource_id), item)
        if resolved is None:
            raise NotFoundError(f"resource {resource_id!r} was deleted while being updated")
        return resource_from_item(resolved)

    def delete_resource(self, resource_id: str) -> bool:
        """Delete the resource item, its offloaded documents and (when no thread is left)
        its thread counter, after finishing pending blob deletions. Threads stay."""
        v.check_id(resource_id, "resource id")
        self._finish_pending_blobs()
        out = self.dynamo.call(
            "DeleteItem", TableName=self.table, Key=resource_key(resource_id),
            ReturnValues="ALL_OLD",
        )
        old = out.get("Attributes") or {}
        self.offloader.discard(Offloader.refs(old))
        with contextlib.suppress(ConflictError):  # threads are left: their counter stays
            self.dynamo.call(
                "DeleteItem", TableName=self.table,
                Key={"pk": s(f"RES#{resource_id}"), "sk": s("COUNT")},
                ConditionExpression="attribute_not_exists(thread_count) OR thread_count <= :z",
                ExpressionAttributeValues={":z": codec.n(0)},
            )
        return bool(old)
