"""T1: what an agent turn costs in storage requests, through the api handler.

A follow-up turn (the thread exists, ``local/echo``, IAM auth) three ways:

* ``no-id``: the user message has no id: the turn is not deduplicated and costs what
  it always cost (thread, recall, ``running`` snapshot, the turn's one write, the
  final snapshot, the spans).
* ``id``: the client gives the message an id (an idempotent turn): two more reads,
  the turn's message ids (one ``get_messages``: an id of another thread is refused
  before the model runs) and the run's snapshot (:mod:`agents.idempotency`), and
  nothing else.
* ``retry``: the same request again: the stored answer is replayed; the turn's
  messages and the snapshot are read (the same two reads), nothing is written and no
  model is called.

Under JWT auth every turn also reads the thread once more (its owner is checked
before the run). Used by :mod:`bench.requests_dynamodb` and :mod:`bench.requests_postgres`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bench.workload import Workload

THREAD = {"thread": "bench-turns", "resource": "bench-user"}
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem",
          "s3:PutObject", "rds-data:BeginTransaction", "rds-data:CommitTransaction")


def turn_phase(workload: Workload) -> dict[str, Any]:
    """T1 on ``workload``'s store and meter: the three turns above, as steps."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from agents import Agent, App, InlineJobRunner, Memory
    from handlers import _wiring
    from handlers.api import handler
    from handlers.events import LocalContext, rest_event

    agent = Agent(id="assistant", model="local/echo", memory=Memory())
    _wiring.use_app(App(agents=[agent], storage=workload.store, jobs=InlineJobRunner()))
    answers: list[dict[str, Any]] = []

    def turn(messages: Any) -> dict[str, bool]:
        event = rest_event("POST", "/api/agents/assistant/generate",
                           body=json.dumps({"messages": messages, "memory": THREAD}),
                           headers={"Content-Type": "application/json"})
        reply = handler(event, LocalContext())
        answers.append(json.loads(reply["body"]))
        return {"answered 200": reply["statusCode"] == 200}

    question = [{"id": "bench-q-1", "role": "user", "content": "an idempotent question"}]
    try:
        turn("the first turn creates the thread")
        steps = {
            "no-id": workload.measure(lambda: turn("a follow-up")),
            "id": workload.measure(lambda: turn(question)),
            "retry": workload.measure(lambda: turn(question)),
        }
    finally:
        _wiring.use_app(None)
    stored = workload.memory.list_messages(THREAD["thread"], per_page=None)
    totals = {name: step["total_requests"] for name, step in steps.items()}
    writes = sum(n for op, n in steps["retry"]["requests"].items() if op in WRITES)
    return {
        "requests": {f"{name} turn": n for name, n in totals.items()},
        "total_requests": sum(totals.values()),
        "items_read": sum(step["items_read"] for step in steps.values()),
        "wall_ms": round(sum(step["wall_ms"] for step in steps.values()), 1),
        "steps": steps,
        "checks": {
            "every turn answered 200": all(
                all(step["checks"].values()) for step in steps.values()),
            "a client-given id adds exactly two reads (its ids, the run's snapshot)":
                totals["id"] == totals["no-id"] + 2,
            "a retry writes nothing": writes == 0,
            "a retry answers the stored text": answers[-1]["text"] == answers[-2]["text"],
            "the thread holds 3 turns, no more": stored.total == 6,
        },
    }


__all__ = ["turn_phase"]
