"""``DynamoDBWorkflowStore``: runs keyed ``RUN#<run id>`` / ``WF#<workflow name>``.

A snapshot is one JSON string attribute; one of many MB goes to the blob store by
the overflow rule and the item keeps ``snapshot_ref``. A save is one UpdateItem that
keeps ``created_at`` from the first save (``if_not_exists``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb._base import DynamoDBDomain, index_items, within
from storage.dynamodb.codec import Item, get_s, get_time, ms, s, sort_key
from storage.dynamodb.offload import REF_SUFFIX, Offloader
from storage.dynamodb.retention import RetentionAware, RunPruning
from storage.dynamodb.schema import ALL, CRT, RES, TTL
from storage.paging import check_run_listing, newest_page
from storage.records import Page, WorkflowRun
from storage.timeutil import utcnow

log = logging.getLogger(__name__)

_BIG = ("snapshot",)


def run_key(workflow_name: str, run_id: str) -> Item:
    """A run's key."""
    return {"pk": s(f"RUN#{run_id}"), "sk": s(f"WF#{workflow_name}")}


class DynamoDBWorkflowStore(RunPruning, RetentionAware, DynamoDBDomain):
    """Workflow runs on DynamoDB (see :class:`~storage.protocols.WorkflowStore`)."""

    def persist_snapshot(
        self,
        workflow_name: str,
        run_id: str,
        snapshot: Mapping[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        """Create or replace a run's snapshot (one UpdateItem; big snapshots offloaded)."""
        v.check_run(workflow_name, run_id, snapshot)
        if resource_id is not None:
            v.check_id(resource_id, "resource id")
        status = snapshot.get("status", "pending")
        status = status if isinstance(status, str) else str(status)
        now = utcnow()
        # The item as it will be (resource id at its longest), to size it exactly.
        item: Item = {
            **run_key(workflow_name, run_id),
            "workflow_name": s(workflow_name),
            "run_id": s(run_id),
            "status": s(status),
            "snapshot": s(codec.dumps(dict(snapshot))),
            "created_at": ms(now),
            "updated_at": ms(now),
            "wf": s(workflow_name),
            ALL: s("RUN"),
            CRT: s(sort_key(now, run_id)),
            RES: s(resource_id or "x" * v.MAX_ID_LENGTH),
            "resource_id": s(resource_id or "x" * v.MAX_ID_LENGTH),
        }
        item.update(self.expiry("runs", now))
        uploads = self.offloader.fit(item, _BIG, (workflow_name, run_id))
        names = {"#st": "status", "#crt": CRT, "#all": ALL, "#snap": "snapshot"}
        values: dict[str, Any] = {
            ":wf": s(workflow_name),
            ":rid": s(run_id),
            ":st": s(status),
            ":now": ms(now),
            ":crt": s(sort_key(now, run_id)),
            ":all": s("RUN"),
        }
        sets = [
            "workflow_name = :wf",
            "run_id = :rid",
            "wf = :wf",
            "#st = :st",
            "updated_at = :now",
            "created_at = if_not_exists(created_at, :now)",
            "#crt = if_not_exists(#crt, :crt)",
            "#all = :all",
        ]
        # A run expires an age after its first save, like created_at (kept on updates).
        expires = self.retention.expires_at("runs", now)
        if expires is not None:
            sets.append(f"{TTL} = if_not_exists({TTL}, :exp)")
            values[":exp"] = codec.n(expires)
        if "snapshot" in item:
            sets.append("#snap = :snap")
            values[":snap"] = item["snapshot"]
            remove = " REMOVE snapshot_ref"
        else:
            sets.append("snapshot_ref = :ref")
            values[":ref"] = item["snapshot" + REF_SUFFIX]
            remove = " REMOVE #snap"
        if resource_id is not None:
            names["#res"] = RES
            values[":res"] = s(resource_id)
            sets += ["resource_id = :res", "#res = :res"]
        try:
            out = self.dynamo.call(
                "UpdateItem",
                TableName=self.table,
                Key=run_key(workflow_name, run_id),
                UpdateExpression="SET " + ", ".join(sets) + remove,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except Exception:
            self.offloader.discard(uploads)
            raise
        stale = set(Offloader.refs(out.get("Attributes", {}))) - set(Offloader.refs(item))
        self.offloader.discard(sorted(stale))

    def load_snapshot(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        """The snapshot, or ``None``."""
        run = self.get_run(run_id, workflow_name=workflow_name)
        return run.snapshot if run is not None else None

    def get_run(self, run_id: str, *, workflow_name: str | None = None) -> WorkflowRun | None:
        """A run by id: GetItem with the workflow name, else one Query of the run's items."""
        v.check_id(run_id, "run id")
        if workflow_name is not None:
            v.check_id(workflow_name, "workflow name")
            item = self.dynamo.get(self.table, run_key(workflow_name, run_id))
            return self._record(item) if item else None
        items = self.dynamo.query_items(
            self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(f"RUN#{run_id}")},
            ConsistentRead=True,
        )
        if not items:
            return None
        newest = max(
            items, key=lambda i: (get_time(i, "created_at"), get_s(i, "workflow_name") or "")
        )
        return self._record(newest)

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
        """Runs, newest first: one index Query (all pages), time bounds in the key."""
        low, high = check_run_listing(
            workflow_name, resource_id, status, start, end, page, per_page
        )
        if workflow_name is not None:
            items = index_items(self, "by-workflow", ("wf", workflow_name), CRT, low, high)
        elif resource_id is not None:
            items = index_items(self, "by-resource", (RES, resource_id), CRT, low, high)
        else:
            items = index_items(self, "all-runs", (ALL, "RUN"), CRT, low, high)
        matches = []
        for item in items:
            created = get_time(item, "created_at")
            if (
                (workflow_name is None or get_s(item, "workflow_name") == workflow_name)
                and (resource_id is None or get_s(item, "resource_id") == resource_id)
                and (status is None or get_s(item, "status") == status)
                and created is not None
                and within(created, low, high)
            ):
                matches.append(item)
        return newest_page(
            matches,
            key=lambda i: (get_time(i, "created_at"), get_s(i, "run_id") or ""),
            page=page,
            per_page=per_page,
            record=self._record,
        )

    def delete_run(self, workflow_name: str, run_id: str) -> None:
        """Delete a run and its offloaded snapshot (a missing run is a no-op)."""
        v.check_id(workflow_name, "workflow name")
        v.check_id(run_id, "run id")
        out = self.dynamo.call(
            "DeleteItem",
            TableName=self.table,
            Key=run_key(workflow_name, run_id),
            ReturnValues="ALL_OLD",
        )
        self.offloader.discard(Offloader.refs(out.get("Attributes", {})))

    def _record(self, item: Item) -> WorkflowRun:
        self.offloader.resolve(item, _BIG)
        created = get_time(item, "created_at")
        updated = get_time(item, "updated_at")
        assert created is not None and updated is not None
        return WorkflowRun(
            workflow_name=get_s(item, "workflow_name") or "",
            run_id=get_s(item, "run_id") or "",
            snapshot=codec.loads(get_s(item, "snapshot") or "{}"),
            status=get_s(item, "status") or "pending",
            resource_id=get_s(item, "resource_id"),
            created_at=created,
            updated_at=updated,
        )
