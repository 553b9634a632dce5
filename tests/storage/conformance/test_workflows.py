"""Workflow runs: persist, load, upsert, list, get, delete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.storage.conformance.helpers import domain, uid


@pytest.fixture
def workflows(store: Any) -> Any:
    return domain(store, "workflows")


def _snapshot(status: str = "running", **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "context": {"input": {"q": "weather?"}, "step-1": {"status": "success", "output": [1, 2]}},
        "activePaths": [],
        **extra,
    }


def test_persist_and_load(workflows: Any) -> None:
    name, run_id = uid("wf"), uid("run")
    workflows.persist_snapshot(name, run_id, _snapshot())
    assert workflows.load_snapshot(name, run_id) == _snapshot()


def test_load_missing_is_none(workflows: Any) -> None:
    assert workflows.load_snapshot(uid("wf"), uid("run")) is None


def test_persist_is_an_upsert_keeping_created_at(workflows: Any) -> None:
    name, run_id, resource = uid("wf"), uid("run"), uid("res")
    workflows.persist_snapshot(name, run_id, _snapshot("running"), resource_id=resource)
    first = workflows.get_run(run_id, workflow_name=name)
    workflows.persist_snapshot(name, run_id, _snapshot("success", result={"ok": True}),
                               resource_id=resource)
    second = workflows.get_run(run_id, workflow_name=name)
    assert second.snapshot == _snapshot("success", result={"ok": True})
    assert second.status == "success"
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert workflows.list_runs(workflow_name=name).total == 1


def test_status_defaults_to_pending(workflows: Any) -> None:
    name, run_id = uid("wf"), uid("run")
    workflows.persist_snapshot(name, run_id, {"context": {}})
    run = workflows.get_run(run_id, workflow_name=name)
    assert run.status == "pending"
    assert (run.workflow_name, run.run_id, run.resource_id) == (name, run_id, None)


def test_get_run_with_and_without_name(workflows: Any) -> None:
    name, run_id, resource = uid("wf"), uid("run"), uid("res")
    workflows.persist_snapshot(name, run_id, _snapshot(), resource_id=resource)
    by_name = workflows.get_run(run_id, workflow_name=name)
    assert by_name.resource_id == resource
    assert workflows.get_run(run_id) == by_name
    assert workflows.get_run(run_id, workflow_name=uid("other-wf")) is None
    assert workflows.get_run(uid("run")) is None


def test_list_runs_by_name_resource_and_status(workflows: Any) -> None:
    name, other_name = uid("wf"), uid("wf")
    resource = uid("res")
    r1, r2, r3, r4 = (uid("run") for _ in range(4))
    workflows.persist_snapshot(name, r1, _snapshot("success"), resource_id=resource)
    workflows.persist_snapshot(name, r2, _snapshot("failed"), resource_id=resource)
    workflows.persist_snapshot(name, r3, _snapshot("success"))
    workflows.persist_snapshot(other_name, r4, _snapshot("success"), resource_id=resource)

    assert {r.run_id for r in workflows.list_runs(workflow_name=name).items} == {r1, r2, r3}
    assert {r.run_id for r in workflows.list_runs(resource_id=resource).items} == {r1, r2, r4}
    by_status = workflows.list_runs(workflow_name=name, status="success")
    assert {r.run_id for r in by_status.items} == {r1, r3}
    assert by_status.total == 2
    both = workflows.list_runs(workflow_name=name, resource_id=resource, status="failed")
    assert [r.run_id for r in both.items] == [r2]


def test_list_runs_newest_first_and_paged(workflows: Any) -> None:
    name = uid("wf")
    for _ in range(5):
        workflows.persist_snapshot(name, uid("run"), _snapshot())
    everything = workflows.list_runs(workflow_name=name)
    assert everything.total == 5
    assert everything.per_page is None and everything.has_more is False
    keys = [(r.created_at, r.run_id) for r in everything.items]
    assert keys == sorted(keys, reverse=True)
    pages = [workflows.list_runs(workflow_name=name, page=p, per_page=2) for p in range(3)]
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [r.run_id for p in pages for r in p.items] == [r.run_id for r in everything.items]


def test_list_runs_by_date_range(workflows: Any) -> None:
    name, run_id = uid("wf"), uid("run")
    workflows.persist_snapshot(name, run_id, _snapshot())
    created = workflows.get_run(run_id, workflow_name=name).created_at
    ms = timedelta(milliseconds=1)
    assert workflows.list_runs(workflow_name=name, start=created, end=created).total == 1
    assert workflows.list_runs(workflow_name=name, start=created + ms).total == 0
    assert workflows.list_runs(workflow_name=name, end=created - ms).total == 0
    assert workflows.list_runs(workflow_name=name, start=created - ms, end=created + ms).total == 1


def test_delete_run(workflows: Any) -> None:
    name, doomed, kept = uid("wf"), uid("run"), uid("run")
    workflows.persist_snapshot(name, doomed, _snapshot())
    workflows.persist_snapshot(name, kept, _snapshot())
    workflows.delete_run(name, doomed)
    workflows.delete_run(name, uid("never-existed"))
    assert workflows.load_snapshot(name, doomed) is None
    assert workflows.get_run(doomed) is None
    assert [r.run_id for r in workflows.list_runs(workflow_name=name).items] == [kept]


def test_list_runs_by_default_pending_status(workflows: Any) -> None:
    name, pending, running = uid("wf"), uid("run"), uid("run")
    workflows.persist_snapshot(name, pending, {"context": {}})
    workflows.persist_snapshot(name, running, {"status": "running"})
    page = workflows.list_runs(workflow_name=name, status="pending")
    assert [r.run_id for r in page.items] == [pending]
    assert page.total == 1
