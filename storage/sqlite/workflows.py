"""``SQLiteWorkflowStore``: workflow runs in ``mastra_workflow_snapshot``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from storage import validation as v
from storage.records import Page, WorkflowRun, page_of
from storage.sqlite import _rows
from storage.sqlite._codec import dumps, iso, loads_dict
from storage.sqlite._sql import bound, limit_clause
from storage.sqlite.db import SQLiteDatabase
from storage.sqlite.retention import RunPruning
from storage.sqlite.schema import WORKFLOWS
from storage.timeutil import utcnow


class SQLiteWorkflowStore(RunPruning):
    """Runs and their snapshots; a run's status is its snapshot's ``status``.

    Args:
        db: the database (shared with the other SQLite domains of the same file).
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db

    def persist_snapshot(
        self,
        workflow_name: str,
        run_id: str,
        snapshot: Mapping[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        """Create or replace a run's snapshot; ``created_at`` is kept from the first save."""
        v.check_run(workflow_name, run_id, snapshot)
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        now = iso(utcnow())
        with self._db.write("persist_snapshot") as conn:
            # The same upsert as @mastra/libsql's persistWorkflowSnapshot.
            conn.execute(
                f"INSERT INTO {WORKFLOWS} ({_rows.RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(workflow_name, run_id) DO UPDATE SET "
                f'"resourceId" = COALESCE(excluded."resourceId", {WORKFLOWS}."resourceId"), '
                'snapshot = excluded.snapshot, "updatedAt" = excluded."updatedAt"',
                (workflow_name, run_id, resource_id, dumps(dict(snapshot)), now, now),
            )

    def load_snapshot(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        """The snapshot, or ``None``."""
        v.check_id(workflow_name, "workflow name")
        v.check_id(run_id, "run id")
        with self._db.read("load_snapshot") as conn:
            row = conn.execute(
                f"SELECT snapshot FROM {WORKFLOWS} WHERE workflow_name = ? AND run_id = ?",
                (workflow_name, run_id),
            ).fetchone()
        return loads_dict(row[0]) if row is not None else None

    def get_run(self, run_id: str, *, workflow_name: str | None = None) -> WorkflowRun | None:
        """A run by id (the newest, across workflows, when ``workflow_name`` is ``None``)."""
        v.check_id(run_id, "run id")
        where, args = "run_id = ?", [run_id]
        if workflow_name is not None:
            v.check_id(workflow_name, "workflow name")
            where += " AND workflow_name = ?"
            args.append(workflow_name)
        with self._db.read("get_run") as conn:
            row = conn.execute(
                f"SELECT {_rows.RUN_COLUMNS} FROM {WORKFLOWS} WHERE {where} "
                'ORDER BY "createdAt" DESC, workflow_name DESC LIMIT 1',
                args,
            ).fetchone()
        return _rows.run_from_row(row) if row is not None else None

    def list_runs(
        self,
        *,
        workflow_name: str | None = None,
        resource_id: str | None = None,
        status: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page: int = 0,
        per_page: int | None = None,
    ) -> Page[WorkflowRun]:
        """Runs, newest ``created_at`` first (ties: ``run_id`` descending)."""
        v.check_paging(page, per_page)
        where: list[str] = []
        args: list[Any] = []
        if workflow_name is not None:
            where.append("workflow_name = ?")
            args.append(v.check_id(workflow_name, "workflow name"))
        if resource_id is not None:
            where.append('"resourceId" = ?')
            args.append(v.check_id(resource_id, "resource id"))
        if status is not None:
            # stowage_json reads Mastra's JSONB snapshots too (see _codec.json_text); a
            # snapshot without a status is "pending", as run_status reads it.
            where.append(
                "COALESCE(json_extract(stowage_json(snapshot), '$.status'), 'pending') = ?"
            )
            args.append(v.check_id(status, "status"))
        if start is not None:
            where.append('"createdAt" >= ?')
            args.append(bound(start, "start"))
        if end is not None:
            where.append('"createdAt" <= ?')
            args.append(bound(end, "end"))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        limit, limit_args = limit_clause(page, per_page)
        with self._db.read("list_runs") as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM {WORKFLOWS}{clause}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_rows.RUN_COLUMNS} FROM {WORKFLOWS}{clause} "
                f'ORDER BY "createdAt" DESC, run_id DESC{limit}',
                [*args, *limit_args],
            ).fetchall()
        return page_of(
            [_rows.run_from_row(r) for r in rows], total=total, page=page, per_page=per_page
        )

    def delete_run(self, workflow_name: str, run_id: str) -> None:
        """Delete a run (a no-op when missing)."""
        v.check_id(workflow_name, "workflow name")
        v.check_id(run_id, "run id")
        with self._db.write("delete_run") as conn:
            conn.execute(
                f"DELETE FROM {WORKFLOWS} WHERE workflow_name = ? AND run_id = ?",
                (workflow_name, run_id),
            )
