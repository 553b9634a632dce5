"""Spans and traces: create, update, read a trace, list root spans, delete."""

from __future__ import annotations

from typing import Any

import pytest

import storage
from storage import SpanUpdate
from tests.storage.conformance.helpers import at, domain, make_span, uid


@pytest.fixture
def observability(store: Any) -> Any:
    return domain(store, "observability")


def _trace(observability: Any, started: float = 0, **root_fields: Any) -> list[Any]:
    """A root span with two children and a grandchild, created out of order."""
    trace_id = uid("trace")
    root = make_span(trace_id, uid("root"), started=started, **root_fields)
    child_a = make_span(trace_id, uid("a"), parent=root.span_id, started=started + 1,
                        name="model call", span_type="model_generation")
    child_b = make_span(trace_id, uid("b"), parent=root.span_id, started=started + 3,
                        name="tool call", span_type="tool_call")
    grandchild = make_span(trace_id, uid("g"), parent=child_a.span_id, started=started + 2)
    observability.create_spans([grandchild, child_b, root, child_a])
    return [root, child_a, grandchild, child_b]


def test_get_trace_orders_by_started_at(observability: Any) -> None:
    spans = _trace(observability)
    assert observability.get_trace(spans[0].trace_id) == spans


def test_get_unknown_trace_is_empty(observability: Any) -> None:
    assert observability.get_trace(uid("trace")) == []


def test_span_fields_round_trip(observability: Any) -> None:
    span = make_span(
        uid("trace"),
        started=1.5,
        ended_at=at(2.25),
        input={"messages": [{"role": "user", "content": "hi"}]},
        output={"text": "hello 👋"},
        error=None,
        attributes={"model": "local/echo", "usage": {"total": 7}},
        metadata={"k": "v"},
        entity_type="agent",
        entity_id=uid("agent"),
        entity_name="Assistant",
        resource_id=uid("res"),
        thread_id=uid("thread"),
        run_id=uid("run"),
    )
    observability.create_spans([span])
    assert observability.get_trace(span.trace_id) == [span]


def test_create_replaces_an_existing_span(observability: Any) -> None:
    trace_id = uid("trace")
    span = make_span(trace_id, "s1", output={"v": 1})
    observability.create_spans([span])
    observability.create_spans([make_span(trace_id, "s1", output={"v": 2})])
    assert [s.output for s in observability.get_trace(trace_id)] == [{"v": 2}]


def test_update_spans_sets_fields(observability: Any) -> None:
    root = _trace(observability)[0]
    observability.update_spans([
        SpanUpdate(root.trace_id, root.span_id,
                   {"ended_at": at(9), "output": {"text": "done"}, "attributes": {"x": 1}}),
    ])
    stored = observability.get_trace(root.trace_id)[0]
    assert stored.ended_at == at(9)
    assert (stored.output, stored.attributes) == ({"text": "done"}, {"x": 1})
    assert stored.name == root.name


def test_update_unknown_span_applies_nothing(observability: Any) -> None:
    root = _trace(observability)[0]
    with pytest.raises(storage.NotFoundError):
        observability.update_spans([
            SpanUpdate(root.trace_id, root.span_id, {"output": "changed"}),
            SpanUpdate(root.trace_id, uid("missing"), {"output": "x"}),
        ])
    assert observability.get_trace(root.trace_id)[0].output is None


@pytest.mark.parametrize("field", ["trace_id", "span_id", "no_such_field"])
def test_update_refuses_key_and_unknown_fields(observability: Any, field: str) -> None:
    root = _trace(observability)[0]
    with pytest.raises(storage.ValidationError):
        observability.update_spans([SpanUpdate(root.trace_id, root.span_id, {field: "x"})])
    assert observability.get_trace(root.trace_id)[0] == root


def test_list_traces_returns_root_spans_newest_first(observability: Any) -> None:
    entity = uid("agent")
    old = _trace(observability, started=0, entity_type="agent", entity_id=entity)[0]
    new = _trace(observability, started=100, entity_type="agent", entity_id=entity)[0]
    page = observability.list_traces(entity_type="agent", entity_id=entity)
    assert page.items == [new, old]
    assert page.total == 2


def test_list_traces_filters(observability: Any) -> None:
    entity, resource, thread = uid("agent"), uid("res"), uid("thread")
    a = _trace(observability, 10, entity_type="agent", entity_id=entity, resource_id=resource)[0]
    b = _trace(observability, 20, entity_type="agent", entity_id=entity, thread_id=thread)[0]
    c = _trace(observability, 30, entity_type="workflow", entity_id=entity,
               resource_id=resource, thread_id=thread)[0]
    assert observability.list_traces(entity_id=entity).items == [c, b, a]
    assert observability.list_traces(entity_type="agent", entity_id=entity).items == [b, a]
    assert observability.list_traces(resource_id=resource).items == [c, a]
    assert observability.list_traces(thread_id=thread).items == [c, b]
    assert observability.list_traces(resource_id=resource, thread_id=thread).items == [c]


def test_list_traces_date_range_and_paging(observability: Any) -> None:
    entity = uid("agent")
    roots = [_trace(observability, 10 * i, entity_id=entity)[0] for i in range(5)]
    ranged = observability.list_traces(entity_id=entity, start=at(10), end=at(30))
    assert ranged.items == [roots[3], roots[2], roots[1]]
    first = observability.list_traces(entity_id=entity, per_page=2)
    last = observability.list_traces(entity_id=entity, page=2, per_page=2)
    assert (first.items, first.total, first.has_more) == ([roots[4], roots[3]], 5, True)
    assert (last.items, last.has_more) == ([roots[0]], False)


def test_delete_traces(observability: Any) -> None:
    entity = uid("agent")
    doomed = _trace(observability, 0, entity_id=entity)
    kept = _trace(observability, 5, entity_id=entity)
    observability.delete_traces([doomed[0].trace_id, uid("unknown")])
    observability.delete_traces([])
    assert observability.get_trace(doomed[0].trace_id) == []
    assert observability.get_trace(kept[0].trace_id) == kept
    assert observability.list_traces(entity_id=entity).items == [kept[0]]
