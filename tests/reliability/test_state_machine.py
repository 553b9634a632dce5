"""Model-based test: random operation sequences, ``memory://`` as the oracle.

A hypothesis ``RuleBasedStateMachine`` applies the same memory, workflow,
observability and score operations to a fresh ``memory://`` store and to one
long-lived store of the backend under test, and requires the same observable
outcome every time: the same records (timestamps included: both read one frozen
clock) or the same kind of :mod:`storage.errors` error. At the end of each sequence
everything the sequence wrote is read back from both and compared.

One store per backend serves every sequence; each sequence uses ids under its own
prefix and every list it issues is filtered on a prefixed key, so earlier
sequences' data never shows up and nothing needs cleaning between examples.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

import storage
from storage import Include, Message, MessageUpdate, Score, Span, SpanUpdate, Thread
from tests.reliability.conftest import PROFILE
from tests.reliability.support import Clock, backend, fresh_prefix, frozen_clock, outcome

BACKEND_NAMES = ("sqlite", "postgres", "data-api", "dynamodb+s3")

# Small pools make operations collide: the same thread saved twice, a message moved
# to a thread just deleted, a run replaced...
THREADS = [f"t{i}" for i in range(3)]
RESOURCES = ["r0", "r1"]
MESSAGES = [f"m{i}" for i in range(6)]
WORKFLOWS = ["wf0", "wf1"]
RUNS = [f"run{i}" for i in range(3)]
TRACES = ["tr0", "tr1"]
SPANS = ["s0", "s1", "s2"]
SCORES = [f"sc{i}" for i in range(3)]
SCORERS = ["scorer0", "scorer1"]
BAD_IDS = ["", "  ", "x" * 513, "a\x00b"]

keys = st.sampled_from(["a", "b", "c", "topic", "n"])
bad_keys = st.sampled_from(["1x", "__proto__", "a-b", ""])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
metadata = st.dictionaries(keys, json_values, max_size=3)
maybe_bad_metadata = metadata | st.dictionaries(bad_keys, scalars, min_size=1, max_size=1)
texts = st.text(max_size=30) | st.sampled_from(["bad\x00nul", "lone \ud800 surrogate"])
paging = st.tuples(st.integers(0, 2), st.sampled_from([None, 0, 1, 2, 5]))
offsets = st.integers(0, 4)


class StoreMachine(RuleBasedStateMachine):
    """The oracle (``memory://``) and the store under test, driven in lockstep."""

    sut: Any = None  # set per backend before the run
    clock: Clock

    @initialize()
    def start(self) -> None:
        self.ref = storage.open("memory://")
        self.ref.setup()
        self.p = fresh_prefix()
        self.clock.advance(60_000)  # every sequence starts in its own minute
        self.steps = 0

    def _id(self, name: str) -> str:
        return self.p + name

    def both(self, call: Any) -> Any:
        """Run ``call(store)`` on both stores; the outcomes must be equal."""
        self.steps += 1
        expected = outcome(lambda: call(self.ref))
        actual = outcome(lambda: call(self.sut))
        assert actual == expected, (
            f"step {self.steps}: backend {actual!r} != reference {expected!r}")
        return expected

    @rule(ms=st.sampled_from([0, 1, 1000]))
    def tick(self, ms: int) -> None:
        self.clock.advance(ms)

    # --- memory ----------------------------------------------------------------------

    @rule(t=st.sampled_from(THREADS), r=st.sampled_from(RESOURCES), title=st.none() | texts,
          meta=maybe_bad_metadata, back=offsets)
    def save_thread(self, t: str, r: str, title: str | None, meta: dict[str, Any],
                    back: int) -> None:
        when = self.clock.now - timedelta(milliseconds=back)
        thread = Thread(id=self._id(t), resource_id=self._id(r), title=title, metadata=meta,
                        created_at=when, updated_at=when)
        self.both(lambda s: s.memory.save_thread(thread))

    @rule(t=st.sampled_from(THREADS), title=st.none() | texts, meta=st.none() | maybe_bad_metadata)
    def update_thread(self, t: str, title: str | None, meta: dict[str, Any] | None) -> None:
        self.both(lambda s: s.memory.update_thread(self._id(t), title=title, metadata=meta))

    @rule(t=st.sampled_from(THREADS))
    def delete_thread(self, t: str) -> None:
        self.both(lambda s: s.memory.delete_thread(self._id(t)))

    @rule(t=st.sampled_from(THREADS) | st.sampled_from(BAD_IDS))
    def get_thread(self, t: str) -> None:
        self.both(lambda s: s.memory.get_thread(t if t in BAD_IDS else self._id(t)))

    @rule(r=st.sampled_from(RESOURCES), meta=st.none() | st.dictionaries(keys, scalars, max_size=1),
          pg=paging, order=st.sampled_from(["created_at", "updated_at", "title"]),
          direction=st.sampled_from(["asc", "desc"]))
    def list_threads(self, r: str, meta: dict[str, Any] | None, pg: tuple[int, int | None],
                     order: str, direction: str) -> None:
        self.both(lambda s: s.memory.list_threads(
            resource_id=self._id(r), metadata=meta, page=pg[0], per_page=pg[1],
            order_by=order, direction=direction))

    @rule(batch=st.lists(
        st.tuples(st.sampled_from(MESSAGES), st.sampled_from(THREADS),
                  st.sampled_from(["user", "assistant", "tool", "robot"]), texts, offsets,
                  st.none() | metadata, st.booleans()),
        min_size=1, max_size=3))
    def save_messages(self, batch: list[tuple[Any, ...]]) -> None:
        messages = []
        for m, t, role, text, back, meta, own_resource in batch:
            content: dict[str, Any] = {"format": 2, "parts": [{"type": "text", "text": text}]}
            if meta is not None:
                content["metadata"] = meta
            messages.append(Message(
                id=self._id(m), thread_id=self._id(t), role=role, content=content,
                created_at=self.clock.now - timedelta(milliseconds=back),
                resource_id=self._id("r0") if own_resource else None))
        self.both(lambda s: s.memory.save_messages(messages))

    @rule(t=st.sampled_from(THREADS), pg=paging, direction=st.sampled_from(["asc", "desc"]),
          include=st.lists(st.tuples(st.sampled_from(MESSAGES), offsets, offsets), max_size=2),
          start=st.none() | offsets, end=st.none() | offsets,
          excl=st.tuples(st.booleans(), st.booleans()),
          by_resource=st.none() | st.sampled_from(RESOURCES))
    def list_messages(self, t: str, pg: tuple[int, int | None], direction: str,
                      include: list[tuple[str, int, int]], start: int | None, end: int | None,
                      excl: tuple[bool, bool], by_resource: str | None) -> None:
        def at(back: int | None) -> Any:
            return None if back is None else self.clock.now - timedelta(milliseconds=back)

        includes = [Include(self._id(m), with_previous=a, with_next=b) for m, a, b in include]
        self.both(lambda s: s.memory.list_messages(
            self._id(t), resource_id=None if by_resource is None else self._id(by_resource),
            include=includes, start=at(start), end=at(end), start_exclusive=excl[0],
            end_exclusive=excl[1], page=pg[0], per_page=pg[1], direction=direction))

    @rule(ids=st.lists(st.sampled_from([*MESSAGES, "nope"]), max_size=4))
    def get_messages(self, ids: list[str]) -> None:
        self.both(lambda s: s.memory.get_messages([self._id(m) for m in ids]))

    @rule(updates=st.lists(st.tuples(
        st.sampled_from(MESSAGES), st.none() | st.sampled_from(["user", "assistant", "nobody"]),
        st.none() | st.fixed_dictionaries({}, optional={"content": texts, "metadata": metadata}),
        st.none() | st.sampled_from(THREADS), st.none() | metadata), min_size=1, max_size=2))
    def update_messages(self, updates: list[tuple[Any, ...]]) -> None:
        batch = [MessageUpdate(self._id(m), role=role, content=content,
                               thread_id=None if t is None else self._id(t), metadata=meta)
                 for m, role, content, t, meta in updates]
        self.both(lambda s: s.memory.update_messages(batch))

    @rule(ids=st.lists(st.sampled_from(MESSAGES), max_size=3))
    def delete_messages(self, ids: list[str]) -> None:
        self.both(lambda s: s.memory.delete_messages([self._id(m) for m in ids]))

    @rule(r=st.sampled_from(RESOURCES), wm=st.none() | texts, meta=st.none() | maybe_bad_metadata)
    def update_resource(self, r: str, wm: str | None, meta: dict[str, Any] | None) -> None:
        self.both(lambda s: s.memory.update_resource(self._id(r), working_memory=wm, metadata=meta))

    @rule(r=st.sampled_from(RESOURCES))
    def get_resource(self, r: str) -> None:
        self.both(lambda s: s.memory.get_resource(self._id(r)))

    # --- workflows -------------------------------------------------------------------

    @rule(wf=st.sampled_from(WORKFLOWS), run=st.sampled_from(RUNS),
          status=st.none() | st.sampled_from(["running", "success", "failed"]),
          extra=metadata, r=st.none() | st.sampled_from(RESOURCES))
    def persist_snapshot(self, wf: str, run: str, status: str | None, extra: dict[str, Any],
                         r: str | None) -> None:
        snapshot = dict(extra, **({"status": status} if status is not None else {}))
        self.both(lambda s: s.workflows.persist_snapshot(
            self._id(wf), self._id(run), snapshot,
            resource_id=None if r is None else self._id(r)))

    @rule(wf=st.sampled_from(WORKFLOWS), run=st.sampled_from(RUNS), any_wf=st.booleans())
    def read_run(self, wf: str, run: str, any_wf: bool) -> None:
        self.both(lambda s: s.workflows.load_snapshot(self._id(wf), self._id(run)))
        self.both(lambda s: s.workflows.get_run(
            self._id(run), workflow_name=None if any_wf else self._id(wf)))

    @rule(wf=st.sampled_from(WORKFLOWS), by=st.sampled_from(["workflow", "resource", "both"]),
          r=st.sampled_from(RESOURCES), status=st.none() | st.sampled_from(["running", "pending"]),
          pg=paging, window=st.none() | st.tuples(st.integers(0, 3000), st.integers(0, 3000)))
    def list_runs(self, wf: str, by: str, r: str, status: str | None, pg: tuple[int, int | None],
                  window: tuple[int, int] | None) -> None:
        start = end = None
        if window is not None:
            start = self.clock.now - timedelta(milliseconds=max(window))
            end = self.clock.now - timedelta(milliseconds=min(window))
        self.both(lambda s: s.workflows.list_runs(
            workflow_name=self._id(wf) if by in ("workflow", "both") else None,
            resource_id=self._id(r) if by in ("resource", "both") else None,
            status=status, start=start, end=end, page=pg[0], per_page=pg[1]))

    @rule(wf=st.sampled_from(WORKFLOWS), run=st.sampled_from(RUNS))
    def delete_run(self, wf: str, run: str) -> None:
        self.both(lambda s: s.workflows.delete_run(self._id(wf), self._id(run)))

    # --- observability ---------------------------------------------------------------

    @rule(spans=st.lists(st.tuples(
        st.sampled_from(TRACES), st.sampled_from(SPANS), st.none() | st.sampled_from(SPANS),
        offsets, st.none() | json_values, metadata, st.none() | st.sampled_from(THREADS)),
        min_size=1, max_size=3))
    def create_spans(self, spans: list[tuple[Any, ...]]) -> None:
        batch = [Span(trace_id=self._id(tr), span_id=sp, name="agent run", span_type="agent_run",
                      started_at=self.clock.now - timedelta(milliseconds=back),
                      parent_span_id=parent, input=value, attributes=meta,
                      entity_type="agent", entity_id=self._id("agent"),
                      resource_id=self._id("r0"), thread_id=None if t is None else self._id(t))
                 for tr, sp, parent, back, value, meta, t in spans]
        self.both(lambda s: s.observability.create_spans(batch))

    @rule(tr=st.sampled_from(TRACES), sp=st.sampled_from(SPANS),
          fields=st.fixed_dictionaries({}, optional={
              "output": json_values, "name": st.sampled_from(["renamed", ""]),
              "metadata": metadata, "span_id": st.just("s9"), "bogus": st.just(1)}))
    def update_spans(self, tr: str, sp: str, fields: dict[str, Any]) -> None:
        self.both(lambda s: s.observability.update_spans([SpanUpdate(self._id(tr), sp, fields)]))

    @rule(tr=st.sampled_from(TRACES))
    def get_trace(self, tr: str) -> None:
        self.both(lambda s: s.observability.get_trace(self._id(tr)))

    @rule(by=st.sampled_from(["entity", "resource", "thread"]), t=st.sampled_from(THREADS),
          pg=paging)
    def list_traces(self, by: str, t: str, pg: tuple[int, int | None]) -> None:
        filters: dict[str, Any] = {
            "entity": {"entity_type": "agent", "entity_id": self._id("agent")},
            "resource": {"resource_id": self._id("r0")},
            "thread": {"thread_id": self._id(t)},
        }[by]
        self.both(lambda s: s.observability.list_traces(**filters, page=pg[0], per_page=pg[1]))

    @rule(traces=st.lists(st.sampled_from(TRACES), max_size=2))
    def delete_traces(self, traces: list[str]) -> None:
        self.both(lambda s: s.observability.delete_traces([self._id(tr) for tr in traces]))

    # --- scores ----------------------------------------------------------------------

    @rule(sc=st.sampled_from(SCORES), scorer=st.sampled_from(SCORERS), run=st.sampled_from(RUNS),
          value=st.floats(0, 1, width=32), reason=st.none() | texts, back=offsets, meta=metadata)
    def save_score(self, sc: str, scorer: str, run: str, value: float, reason: str | None,
                   back: int, meta: dict[str, Any]) -> None:
        score = Score(id=self._id(sc), scorer_id=self._id(scorer), score=value,
                      run_id=self._id(run),
                      created_at=self.clock.now - timedelta(milliseconds=back), reason=reason,
                      entity_type="agent", entity_id=self._id("agent"), metadata=meta)
        self.both(lambda s: s.scores.save_score(score))

    @rule(sc=st.sampled_from(SCORES))
    def get_score(self, sc: str) -> None:
        self.both(lambda s: s.scores.get_score(self._id(sc)))

    @rule(by=st.sampled_from(["scorer_id", "run_id", "entity_id"]), scorer=st.sampled_from(SCORERS),
          run=st.sampled_from(RUNS), pg=paging)
    def list_scores(self, by: str, scorer: str, run: str, pg: tuple[int, int | None]) -> None:
        value = {"scorer_id": scorer, "run_id": run, "entity_id": "agent"}[by]
        self.both(lambda s: s.scores.list_scores(**{by: self._id(value)}, page=pg[0],
                                                 per_page=pg[1]))

    # --- the end of every sequence: everything written reads back the same ------------

    def teardown(self) -> None:
        if not hasattr(self, "ref"):
            return
        for r in map(self._id, RESOURCES):
            self.both(lambda s, r=r: s.memory.get_resource(r))
            self.both(lambda s, r=r: s.memory.list_threads(resource_id=r, per_page=None,
                                                           order_by="updated_at"))
        for t in map(self._id, THREADS):
            self.both(lambda s, t=t: s.memory.list_messages(t, per_page=None))
        self.both(lambda s: s.memory.get_messages([self._id(m) for m in MESSAGES]))
        for wf in map(self._id, WORKFLOWS):
            self.both(lambda s, wf=wf: s.workflows.list_runs(workflow_name=wf))
        for tr in map(self._id, TRACES):
            self.both(lambda s, tr=tr: s.observability.get_trace(tr))
        for scorer in map(self._id, SCORERS):
            self.both(lambda s, sc=scorer: s.scores.list_scores(scorer_id=sc, per_page=None))
        self.ref.close()


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=backend(n).marks) for n in BACKEND_NAMES]
)
def test_backend_matches_reference(name: str, tmp_path: Path) -> None:
    class Machine(StoreMachine):
        pass

    with backend(name).factory(tmp_path) as sut, frozen_clock(Clock()) as clock:
        Machine.sut = sut
        Machine.clock = clock
        run_state_machine_as_test(Machine, settings=settings(PROFILE))
