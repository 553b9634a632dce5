"""``InMemoryWorkflowStore``: workflow runs keyed by ``(workflow_name, run_id)``."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from storage import validation as v
from storage.memory._common import clone, within
from storage.memory.retention import RunPruning
from storage.paging import check_run_listing, newest_page
from storage.records import Page, WorkflowRun
from storage.timeutil import utcnow


class InMemoryWorkflowStore(RunPruning):
    """Workflow (and agent) runs in process memory (see ``WorkflowStore``)."""

    def __init__(self, *, lock: threading.RLock | None = None) -> None:
        self._lock = lock or threading.RLock()
        self._runs: dict[tuple[str, str], WorkflowRun] = {}

    def persist_snapshot(
        self,
        workflow_name: str,
        run_id: str,
        snapshot: Mapping[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        """Create or replace a run's snapshot; ``status`` is ``snapshot["status"]``.

        ``created_at`` is kept from the first save; ``updated_at`` is now. A save
        without ``resource_id`` keeps the one stored before.
        """
        v.check_run(workflow_name, run_id, snapshot)
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        status = snapshot.get("status", "pending")
        with self._lock:
            now = utcnow()
            previous = self._runs.get((workflow_name, run_id))
            self._runs[(workflow_name, run_id)] = WorkflowRun(
                workflow_name=workflow_name,
                run_id=run_id,
                snapshot=clone(dict(snapshot)),
                status=status if isinstance(status, str) else str(status),
                resource_id=resource_id
                if resource_id is not None or previous is None
                else previous.resource_id,
                created_at=previous.created_at if previous is not None else now,
                updated_at=now,
            )

    def load_snapshot(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        """The snapshot, or ``None``."""
        v.check_id(workflow_name, "workflow name")
        v.check_id(run_id, "run id")
        with self._lock:
            run = self._runs.get((workflow_name, run_id))
            return clone(run.snapshot) if run is not None else None

    def get_run(self, run_id: str, *, workflow_name: str | None = None) -> WorkflowRun | None:
        """A run by id (the newest of any workflow when ``workflow_name`` is ``None``)."""
        v.check_id(run_id, "run id")
        if workflow_name is not None:
            v.check_id(workflow_name, "workflow name")
        with self._lock:
            if workflow_name is not None:
                return clone(self._runs.get((workflow_name, run_id)))
            candidates = [r for r in self._runs.values() if r.run_id == run_id]
            if not candidates:
                return None
            return clone(max(candidates, key=lambda r: (r.created_at, r.workflow_name)))

    def list_runs(
        self,
        *,
        workflow_name: str | None = None,
        resource_id: str | None = None,
        status: str | None = None,
        start: Any = None,
        end: Any = None,
        page: int = 0,
        per_page: int | None = None,
    ) -> Page[WorkflowRun]:
        """Runs, newest ``created_at`` first (ties: ``run_id`` descending)."""
        low, high = check_run_listing(
            workflow_name, resource_id, status, start, end, page, per_page
        )
        with self._lock:
            matches = [
                r
                for r in self._runs.values()
                if (workflow_name is None or r.workflow_name == workflow_name)
                and (resource_id is None or r.resource_id == resource_id)
                and (status is None or r.status == status)
                and within(r.created_at, low, high)
            ]
            return newest_page(
                matches, key=lambda r: (r.created_at, r.run_id), page=page, per_page=per_page,
                record=clone,
            )

    def delete_run(self, workflow_name: str, run_id: str) -> None:
        """Delete a run (a missing one is a no-op)."""
        v.check_id(workflow_name, "workflow name")
        v.check_id(run_id, "run id")
        with self._lock:
            self._runs.pop((workflow_name, run_id), None)
