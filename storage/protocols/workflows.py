"""The ``workflows`` domain: workflow run snapshots.

Part of :mod:`storage.protocols` (the contract; import the names from there)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from storage.records import Page, WorkflowRun


@runtime_checkable
class WorkflowStore(Protocol):
    """Workflow (and agent) runs with their snapshots."""

    def persist_snapshot(
        self, workflow_name: str, run_id: str, snapshot: Mapping[str, Any], *,
        resource_id: str | None = None,
    ) -> None:
        """Create or replace a run's snapshot; ``status`` is ``snapshot["status"]``.

        ``created_at`` is kept from the first save; ``updated_at`` is now.
        """
        ...

    def load_snapshot(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        """The snapshot, or ``None``."""
        ...

    def get_run(self, run_id: str, *, workflow_name: str | None = None) -> WorkflowRun | None:
        """A run by id (any workflow when ``workflow_name`` is ``None``), or ``None``."""
        ...

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
        """Runs, newest ``created_at`` first (ties: ``run_id`` descending).

        ``start``/``end`` bound ``created_at`` inclusively.
        """
        ...

    def delete_run(self, workflow_name: str, run_id: str) -> None:
        """Delete a run."""
        ...
