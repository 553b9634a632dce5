"""Stowage's SQLite backend and ``@mastra/libsql`` share one file, both ways.

Mastra's own ``LibSQLStore`` (pinned in ``package.json``) reads the threads, messages,
resources, workflow snapshots, spans and scores we write, and we read what it writes,
including the JSONB blobs it stores in JSON columns and its ``NOT NULL`` thread titles.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import storage
from storage import Message, Score, Span, Thread
from storage.timeutil import from_iso, to_iso
from tests.interop.conftest import Node

pytestmark = pytest.mark.node

SCRIPT = "mastra_libsql.mjs"
T0 = datetime(2025, 4, 1, 10, 0, 0, 250_000, tzinfo=UTC)


def text_of(content: dict[str, Any]) -> str:
    return "".join(p["text"] for p in content.get("parts", []) if p.get("type") == "text")


def mastra(node: Node, command: str, db: Path, **args: Any) -> Any:
    return node.run(SCRIPT, command, str(db), json.dumps(args))


def test_node_is_22(node: Node) -> None:
    assert node.version().startswith("v22.")


def test_mastra_reads_what_stowage_writes(node: Node, tmp_path: Path) -> None:
    # Given threads, messages, a resource and a run written by Stowage
    db = tmp_path / "stowage.db"
    store = storage.open(f"sqlite:///{db}")
    memory = store.memory
    memory.save_thread(
        Thread(id="t-1", resource_id="u-1", title="Trip to Lisbon", metadata={"tag": "travel"},
               created_at=T0, updated_at=T0)
    )
    memory.save_thread(
        Thread(id="t-2", resource_id="u-1", created_at=T0 + timedelta(seconds=1),
               updated_at=T0 + timedelta(seconds=1))
    )
    turn = [
        Message(id="m-1", thread_id="t-1", role="user", created_at=T0 + timedelta(seconds=2),
                content={"format": 2, "parts": [{"type": "text", "text": "Olá, where to eat?"}]}),
        Message(id="m-2", thread_id="t-1", role="assistant", created_at=T0 + timedelta(seconds=3),
                content={"format": 2, "parts": [{"type": "text", "text": "Try Time Out Market."}],
                         "metadata": {"model": "local/echo"}}),
    ]
    memory.save_messages(turn)
    memory.update_resource("u-1", working_memory="# Notes\nlikes fish", metadata={"plan": "pro"})
    store.workflows.persist_snapshot("agent-run", "r-1", {"status": "success", "value": {"n": 1}},
                                     resource_id="u-1")
    store.close()

    # When Mastra opens the same file
    seen = mastra(node, "read", db, resourceId="u-1", threadIds=["t-1", "t-2"],
                  runs=[{"workflowName": "agent-run", "runId": "r-1"}])

    # Then it sees the same ids, titles, roles, texts and timestamps
    assert [t["id"] for t in seen["threads"]] == ["t-1", "t-2"]
    first = seen["byId"]["t-1"]
    assert first["title"] == "Trip to Lisbon"
    assert first["metadata"] == {"tag": "travel"}
    assert first["createdAt"] == to_iso(T0)
    assert seen["byId"]["t-2"]["title"] in (None, "")
    messages = seen["messages"]["t-1"]
    assert [(m["id"], m["role"], text_of(m["content"])) for m in messages] == [
        ("m-1", "user", "Olá, where to eat?"),
        ("m-2", "assistant", "Try Time Out Market."),
    ]
    assert [m["createdAt"] for m in messages] == [to_iso(m.created_at) for m in turn]
    assert all(m["threadId"] == "t-1" and m["resourceId"] == "u-1" for m in messages)
    assert messages[1]["content"]["metadata"] == {"model": "local/echo"}
    assert seen["resource"]["workingMemory"] == "# Notes\nlikes fish"
    assert seen["resource"]["metadata"] == {"plan": "pro"}
    assert seen["runs"]["r-1"]["snapshot"] == {"status": "success", "value": {"n": 1}}
    assert seen["runs"]["r-1"]["run"]["resourceId"] == "u-1"


def test_stowage_reads_what_mastra_writes(node: Node, tmp_path: Path) -> None:
    # Given a file Mastra created and wrote (its schema, its JSONB encodings)
    db = tmp_path / "mastra.db"
    at = [to_iso(T0 + timedelta(seconds=s)) for s in range(4)]
    mastra(
        node, "write", db,
        threads=[{"id": "t-9", "resourceId": "u-9", "title": "Written by Mastra",
                  "metadata": {"source": "mastra", "n": 1}, "createdAt": at[0],
                  "updatedAt": at[0]}],
        messages=[
            {"id": "m-9a", "threadId": "t-9", "resourceId": "u-9", "role": "user", "type": "v2",
             "createdAt": at[1],
             "content": {"format": 2, "parts": [{"type": "text", "text": "ping"}]}},
            {"id": "m-9b", "threadId": "t-9", "resourceId": "u-9", "role": "assistant",
             "type": "v2", "createdAt": at[2],
             "content": {"format": 2, "parts": [{"type": "text", "text": "pong"}]}},
        ],
        resources=[{"resourceId": "u-9", "workingMemory": "wm", "metadata": {"tier": 2}}],
        runs=[{"workflowName": "wf", "runId": "r-9", "resourceId": "u-9",
               "snapshot": {"status": "suspended", "context": {}}}],
    )

    # When Stowage opens it
    store = storage.open(f"sqlite:///{db}")
    thread = store.memory.get_thread("t-9")
    page = store.memory.list_messages("t-9", per_page=None)

    # Then the ids, titles, roles, texts and timestamps match
    assert thread is not None
    assert (thread.resource_id, thread.title) == ("u-9", "Written by Mastra")
    assert thread.metadata == {"source": "mastra", "n": 1}
    assert thread.created_at == from_iso(at[0])
    assert [(m.id, m.role, m.text, m.resource_id) for m in page.items] == [
        ("m-9a", "user", "ping", "u-9"),
        ("m-9b", "assistant", "pong", "u-9"),
    ]
    assert [m.created_at for m in page.items] == [from_iso(at[1]), from_iso(at[2])]
    assert [t.id for t in store.memory.list_threads(resource_id="u-9").items] == ["t-9"]
    resource = store.memory.get_resource("u-9")
    assert resource is not None and resource.metadata == {"tier": 2}  # a JSONB blob
    run = store.workflows.get_run("r-9")
    assert run is not None and run.status == "suspended" and run.resource_id == "u-9"
    assert store.workflows.list_runs(status="suspended").total == 1

    # And writing on top of Mastra's rows keeps both sides readable
    store.memory.update_thread("t-9", metadata={"n": 2})
    store.memory.save_messages(
        [Message(id="m-9c", thread_id="t-9", role="user", created_at=from_iso(at[3]),
                 content={"format": 2, "parts": [{"type": "text", "text": "again"}]})]
    )
    store.close()
    seen = mastra(node, "read", db, resourceId="u-9", threadIds=["t-9"])
    assert seen["byId"]["t-9"]["metadata"] == {"source": "mastra", "n": 2}
    assert [text_of(m["content"]) for m in seen["messages"]["t-9"]] == ["ping", "pong", "again"]


def test_traces_and_scores_both_ways(node: Node, tmp_path: Path) -> None:
    # Given a trace and a score written by Stowage, and another of each by Mastra
    db = tmp_path / "shared.db"
    store = storage.open(f"sqlite:///{db}")
    store.observability.create_spans([
        Span(trace_id="tr-s", span_id="root", name="agent run", span_type="agent_run",
             started_at=T0, ended_at=T0 + timedelta(seconds=2), input={"q": "hi"},
             output={"a": "yo"}, attributes={"model": "local/echo"}, entity_type="agent",
             entity_id="assistant", resource_id="u-1", thread_id="t-1"),
        Span(trace_id="tr-s", span_id="llm", parent_span_id="root", name="llm",
             span_type="model_generation", started_at=T0 + timedelta(milliseconds=5)),
    ])
    store.scores.save_score(
        Score(id="sc-s", scorer_id="relevance", score=0.75, run_id="r-s", reason="on topic",
              entity_type="AGENT", entity_id="assistant", source="LIVE", created_at=T0)
    )
    mastra(
        node, "write", db,
        spans=[{"traceId": "tr-m", "spanId": "root-m", "parentSpanId": None,
                "name": "mastra run", "spanType": "agent_run", "isEvent": False,
                "startedAt": to_iso(T0), "endedAt": to_iso(T0 + timedelta(seconds=1)),
                "attributes": {"k": 1}, "metadata": {"env": "test"}, "input": {"q": "x"},
                "entityType": "agent", "entityId": "mastra-agent"}],
        scores=[{"scorerId": "tone", "entityId": "mastra-agent", "runId": "r-m", "score": 1,
                 "output": {"text": "hi"}, "scorer": {"id": "tone"}, "source": "TEST",
                 "entity": {"id": "mastra-agent"}, "entityType": "AGENT", "reason": "polite"}],
    )

    # When each side reads the other's
    seen = mastra(node, "read", db, resourceId="u-1", traceIds=["tr-s"], scoreRunIds=["r-s"])
    theirs = store.observability.get_trace("tr-m")
    their_scores = store.scores.list_scores(run_id="r-m").items
    store.close()

    # Then names, ids, times, JSON fields and scores match
    spans = seen["traces"]["tr-s"]["spans"]
    assert [(s["spanId"], s["parentSpanId"], s["name"]) for s in spans] == [
        ("root", None, "agent run"), ("llm", "root", "llm"),
    ]
    assert spans[0]["startedAt"] == to_iso(T0)
    assert spans[0]["endedAt"] == to_iso(T0 + timedelta(seconds=2))
    assert (spans[0]["input"], spans[0]["output"]) == ({"q": "hi"}, {"a": "yo"})
    assert spans[0]["attributes"] == {"model": "local/echo"}
    [score] = seen["scores"]["r-s"]["scores"]
    assert (score["id"], score["scorerId"], score["score"], score["reason"]) == (
        "sc-s", "relevance", 0.75, "on topic",
    )
    assert score["createdAt"] == to_iso(T0)
    assert [(s.span_id, s.name, s.entity_id) for s in theirs] == [
        ("root-m", "mastra run", "mastra-agent"),
    ]
    assert theirs[0].started_at == T0 and theirs[0].ended_at == T0 + timedelta(seconds=1)
    assert (theirs[0].attributes, theirs[0].metadata, theirs[0].input) == (
        {"k": 1}, {"env": "test"}, {"q": "x"},
    )
    assert [(s.scorer_id, s.score, s.reason, s.entity_id, s.output) for s in their_scores] == [
        ("tone", 1.0, "polite", "mastra-agent", {"text": "hi"}),
    ]


def test_a_mastra_file_is_an_export_source(node: Node, tmp_path: Path) -> None:
    # Given a file Mastra wrote: a thread, a turn, working memory and a run of user u-9
    from storage.lifecycle import export_resource, import_archive

    db = tmp_path / "mastra.db"
    at = [to_iso(T0 + timedelta(seconds=s)) for s in range(3)]
    mastra(
        node, "write", db,
        threads=[{"id": "t-9", "resourceId": "u-9", "title": "Written by Mastra",
                  "metadata": {"n": 1}, "createdAt": at[0], "updatedAt": at[0]}],
        messages=[
            {"id": f"m-9{i}", "threadId": "t-9", "resourceId": "u-9", "role": role,
             "type": "v2", "createdAt": at[i + 1],
             "content": {"format": 2, "parts": [{"type": "text", "text": text}]}}
            for i, (role, text) in enumerate([("user", "ping"), ("assistant", "pong")])
        ],
        resources=[{"resourceId": "u-9", "workingMemory": "wm", "metadata": {"tier": 2}}],
        runs=[{"workflowName": "wf", "runId": "r-9", "resourceId": "u-9",
               "snapshot": {"status": "suspended", "context": {}}}],
    )
    source = storage.open(f"sqlite:///{db}")
    # When the resource is exported from it and imported into a fresh store
    manifest = export_resource(source, "u-9", tmp_path / "u-9.zip")
    target = storage.open("memory://")
    import_archive(target, tmp_path / "u-9.zip")
    # Then everything Mastra wrote for u-9 is there, field by field
    assert {k: manifest.counts[k] for k in ("threads", "messages", "resources", "runs")} == {
        "threads": 1, "messages": 2, "resources": 1, "runs": 1}
    assert target.memory.get_thread("t-9") == source.memory.get_thread("t-9")
    assert (target.memory.list_messages("t-9", per_page=None).items
            == source.memory.list_messages("t-9", per_page=None).items)
    assert target.memory.get_resource("u-9") == source.memory.get_resource("u-9")
    assert target.workflows.get_run("r-9") == source.workflows.get_run("r-9")
    source.close()
