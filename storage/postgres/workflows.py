"""Workflow runs in Mastra's ``mastra_workflow_snapshot`` (status lives in the snapshot)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from storage.postgres import _codec as c
from storage.postgres._base import PostgresDomain
from storage.postgres.driver import Json, Row
from storage.postgres.retention import RunPruning
from storage.records import Page, WorkflowRun, page_of
from storage.timeutil import utcnow
from storage.validation import check_id, check_paging, check_run

RUN_COLS = (
    'workflow_name, run_id, "resourceId" AS resource_id, snapshot::text AS snapshot, '
    f'{c.ms("createdAt", "created_at")}, {c.ms("updatedAt", "updated_at")}'
)


def status_of(snapshot: Mapping[str, Any]) -> str:
    """A run's status: ``snapshot["status"]`` (Mastra's field), ``"pending"`` if absent."""
    status = snapshot.get("status", "pending")
    return status if isinstance(status, str) else str(status)


def _run(row: Row) -> WorkflowRun:
    snapshot = c.loads_dict(row["snapshot"])
    return WorkflowRun(
        workflow_name=row["workflow_name"],
        run_id=row["run_id"],
        snapshot=snapshot,
        status=status_of(snapshot),
        resource_id=row["resource_id"],
        created_at=c.from_ms(row["created_at"]),
        updated_at=c.from_ms(row["updated_at"]),
    )


class PostgresWorkflowStore(RunPruning, PostgresDomain):
    """The ``workflows`` domain on PostgreSQL."""

    def persist_snapshot(
        self,
        workflow_name: str,
        run_id: str,
        snapshot: Mapping[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        """Upsert a run's snapshot; ``created_at`` is kept from the first save.

        A save without ``resource_id`` keeps the one already stored, as ``@mastra/pg`` does.
        """
        check_run(workflow_name, run_id, snapshot)
        if resource_id is not None:
            check_id(resource_id, "resource id")
        self._ready()
        self._driver.execute(
            "INSERT INTO mastra_workflow_snapshot AS t (workflow_name, run_id, \"resourceId\", "
            'snapshot, "createdAt", "createdAtZ", "updatedAt", "updatedAtZ") '
            "VALUES (:workflow_name, :run_id, :resource_id, CAST(:snapshot AS jsonb), "
            f"{c.wall('now')}, {c.tstz('now')}, {c.wall('now')}, {c.tstz('now')}) "
            "ON CONFLICT (workflow_name, run_id) DO UPDATE SET "
            '"resourceId" = COALESCE(EXCLUDED."resourceId", t."resourceId"), '
            'snapshot = EXCLUDED.snapshot, "updatedAt" = EXCLUDED."updatedAt", '
            '"updatedAtZ" = EXCLUDED."updatedAtZ"',
            {
                "workflow_name": workflow_name,
                "run_id": run_id,
                "resource_id": resource_id,
                "snapshot": Json(dict(snapshot)),
                "now": c.iso(utcnow()),
            },
        )

    def load_snapshot(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        """The snapshot, or ``None``."""
        check_id(workflow_name, "workflow name")
        check_id(run_id, "run id")
        self._ready()
        row = self._driver.fetch_one(
            "SELECT snapshot::text AS snapshot FROM mastra_workflow_snapshot "
            "WHERE workflow_name = :workflow_name AND run_id = :run_id",
            {"workflow_name": workflow_name, "run_id": run_id},
        )
        return c.loads_dict(row["snapshot"]) if row else None

    def get_run(self, run_id: str, *, workflow_name: str | None = None) -> WorkflowRun | None:
        """A run by id (the newest when several workflows share it), or ``None``."""
        check_id(run_id, "run id")
        params: dict[str, Any] = {"run_id": run_id}
        where = "run_id = :run_id"
        if workflow_name is not None:
            check_id(workflow_name, "workflow name")
            where += " AND workflow_name = :workflow_name"
            params["workflow_name"] = workflow_name
        self._ready()
        row = self._driver.fetch_one(
            f"SELECT {RUN_COLS} FROM mastra_workflow_snapshot WHERE {where} "
            'ORDER BY "createdAt" DESC, workflow_name DESC LIMIT 1',
            params,
        )
        return _run(row) if row else None

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
        """Runs, newest first (ties: ``run_id`` descending), and the total, in one query."""
        check_paging(page, per_page)
        where: list[str] = []
        params: dict[str, Any] = {}
        if workflow_name is not None:
            where.append("workflow_name = :workflow_name")
            params["workflow_name"] = check_id(workflow_name, "workflow name")
        if resource_id is not None:
            where.append('"resourceId" = :resource_id')
            params["resource_id"] = check_id(resource_id, "resource id")
        if status is not None:
            params["status"] = check_id(status, "status")
            if status == "pending":  # a snapshot without a status reads as "pending"
                where.append("COALESCE(snapshot ->> 'status', 'pending') = :status")
            else:
                where.append("snapshot ->> 'status' = :status")
        if start is not None:
            where.append(f'"createdAt" >= {c.wall("start")}')
            params["start"] = c.time_param(start, "start")
        if end is not None:
            where.append(f'"createdAt" <= {c.wall("end")}')
            params["end"] = c.time_param(end, "end")
        params["limit"] = per_page
        params["offset"] = page * per_page if per_page is not None else 0
        self._ready()
        rows = self._driver.fetch(
            f'WITH f AS (SELECT {RUN_COLS}, "createdAt" AS sort_key FROM mastra_workflow_snapshot'
            f"{' WHERE ' + ' AND '.join(where) if where else ''}), "
            "p AS (SELECT * FROM f ORDER BY sort_key DESC, run_id DESC "
            "LIMIT :limit OFFSET :offset) "
            "SELECT n.total, p.* FROM (SELECT count(*) AS total FROM f) AS n "
            "LEFT JOIN p ON true ORDER BY p.sort_key DESC, p.run_id DESC",
            params,
        )
        total = int(rows[0]["total"]) if rows else 0
        items = [_run(r) for r in rows if r.get("run_id") is not None]
        return page_of(items, total=total, page=page, per_page=per_page)

    def delete_run(self, workflow_name: str, run_id: str) -> None:
        """Delete a run (no-op when missing)."""
        check_id(workflow_name, "workflow name")
        check_id(run_id, "run id")
        self._ready()
        self._driver.execute(
            "DELETE FROM mastra_workflow_snapshot "
            "WHERE workflow_name = :workflow_name AND run_id = :run_id",
            {"workflow_name": workflow_name, "run_id": run_id},
        )
