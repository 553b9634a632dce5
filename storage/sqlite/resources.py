"""Resource operations of :class:`~storage.sqlite.memory.SQLiteMemoryStore`
(``mastra_resources``: working memory and metadata)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from storage import validation as v
from storage.protocols import BlobStore
from storage.records import Resource
from storage.sqlite import _rows
from storage.sqlite._codec import dumps, iso
from storage.sqlite.db import SQLiteDatabase
from storage.sqlite.retention import delete_pending_blobs
from storage.sqlite.schema import RESOURCES
from storage.timeutil import utcnow


class SQLiteResourceOps:
    """Get, update (creating on first use) and delete resources."""

    _db: SQLiteDatabase
    _blobs: BlobStore | None

    def get_resource(self, resource_id: str) -> Resource | None:
        """The resource, or ``None``."""
        v.check_id(resource_id, "resource id")
        with self._db.read("get_resource") as conn:
            return self._resource(conn, resource_id)

    def delete_resource(self, resource_id: str) -> bool:
        """Delete the resource record after finishing pending blob deletions; threads stay."""
        v.check_id(resource_id, "resource id")
        delete_pending_blobs(self._db, self._blobs)
        with self._db.write("delete_resource") as conn:
            cursor = conn.execute(f"DELETE FROM {RESOURCES} WHERE id = ?", (resource_id,))
            return int(cursor.rowcount) > 0

    def update_resource(
        self,
        resource_id: str,
        *,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Resource:
        """Create the resource if missing, set working memory, merge metadata key by key."""
        v.check_id(resource_id, "resource id")
        patch = v.check_resource_patch(working_memory, metadata)
        now = utcnow()
        with self._db.write("update_resource") as conn:
            current = self._resource(conn, resource_id)
            if current is None:
                resource = Resource(
                    id=resource_id, working_memory=working_memory, metadata=patch,
                    created_at=now, updated_at=now,
                )
            else:
                resource = replace(
                    current,
                    working_memory=(
                        working_memory if working_memory is not None else current.working_memory
                    ),
                    metadata={**current.metadata, **patch},
                    updated_at=now,
                )
            conn.execute(
                f"INSERT INTO {RESOURCES} ({_rows.RESOURCE_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                'ON CONFLICT(id) DO UPDATE SET "workingMemory" = excluded."workingMemory", '
                'metadata = excluded.metadata, "updatedAt" = excluded."updatedAt"',
                (
                    resource.id,
                    resource.working_memory,
                    dumps(resource.metadata),
                    iso(resource.created_at),
                    iso(resource.updated_at),
                ),
            )
        return resource

    @staticmethod
    def _resource(conn: sqlite3.Connection, resource_id: str) -> Resource | None:
        row = conn.execute(
            f"SELECT {_rows.RESOURCE_COLUMNS} FROM {RESOURCES} WHERE id = ?", (resource_id,)
        ).fetchone()
        return _rows.resource_from_row(row) if row is not None else None
