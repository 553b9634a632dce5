"""Resource operations of :class:`~storage.postgres.memory.PostgresMemoryStore`
(``mastra_resources``: working memory and metadata, merged by one upsert)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.errors import NotFoundError
from storage.postgres import _codec as c
from storage.postgres._base import PostgresDomain
from storage.postgres._memory_sql import (
    OBJECT_OR_EMPTY,
    RESOURCE_COLS,
    RESOURCE_RETURNING,
    resource_from_row,
)
from storage.postgres.driver import Json
from storage.postgres.retention import delete_pending_blobs
from storage.protocols import BlobStore
from storage.records import Resource
from storage.timeutil import utcnow
from storage.validation import check_id, check_resource_patch


class PostgresResourceOps(PostgresDomain):
    """Get, update (creating on first use) and delete resources."""

    _blobs: BlobStore | None = None

    def get_resource(self, resource_id: str) -> Resource | None:
        """The resource, or ``None``."""
        check_id(resource_id, "resource id")
        self._ready()
        row = self._driver.fetch_one(
            f"SELECT {RESOURCE_COLS} FROM mastra_resources WHERE id = :id", {"id": resource_id}
        )
        return resource_from_row(row) if row else None

    def delete_resource(self, resource_id: str) -> bool:
        """Delete the resource record after finishing pending blob deletions; threads stay."""
        check_id(resource_id, "resource id")
        self._ready()
        delete_pending_blobs(self._driver, self._blobs)
        return self._driver.execute(
            "DELETE FROM mastra_resources WHERE id = :id", {"id": resource_id}
        ) > 0

    def update_resource(
        self,
        resource_id: str,
        *,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Resource:
        """Create the resource if missing, set working memory, merge metadata: one upsert."""
        check_id(resource_id, "resource id")
        patch = check_resource_patch(working_memory, metadata)
        sets = [
            f"metadata = {OBJECT_OR_EMPTY.format(col='r.metadata')} || EXCLUDED.metadata",
            '"updatedAt" = EXCLUDED."updatedAt"',
            '"updatedAtZ" = EXCLUDED."updatedAtZ"',
        ]
        if working_memory is not None:
            sets.insert(0, '"workingMemory" = EXCLUDED."workingMemory"')
        self._ready()
        row = self._driver.fetch_one(
            'INSERT INTO mastra_resources AS r (id, "workingMemory", metadata, '
            '"createdAt", "createdAtZ", "updatedAt", "updatedAtZ") '
            "VALUES (:id, :working_memory, CAST(:patch AS jsonb), "
            f"{c.wall('now')}, {c.tstz('now')}, {c.wall('now')}, {c.tstz('now')}) "
            f"ON CONFLICT (id) DO UPDATE SET {', '.join(sets)} "
            f"RETURNING {RESOURCE_RETURNING}",
            {
                "id": resource_id,
                "working_memory": working_memory,
                "patch": Json(patch),
                "now": c.iso(utcnow()),
            },
        )
        assert row is not None
        if not row["oversize"]:
            return resource_from_row(row)
        resource = self.get_resource(resource_id)  # a big row: read back in chunks
        if resource is None:
            raise NotFoundError(f"resource {resource_id!r} was deleted while being updated")
        return resource
