"""Concurrency through the local HTTP API: many writers on one thread, nothing lost.

The dev server app runs under uvicorn on a free port with its storage chosen by
environment, as deployed: DynamoDB on a moto server (``ThreadedMotoServer``) or a
fresh PostgreSQL database. 16 writers each send 50 ``generate`` turns to the same
thread (``local/echo``, so a turn is fast); afterwards all 800 turns are stored,
each writer's turns in its own order, each question before its answer, and the
counts are exact. 16 writers then merge metadata keys into that thread: no key lost.

The dev server runs api requests one at a time (as a Lambda instance does), so the
writers race in the HTTP layer and the storage sees interleaved turns, not parallel
ones; storage-level parallelism is covered by ``tests/storage/conformance``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import storage
from handlers import _wiring
from handlers.local import app as local_app
from tests.handlers.servers import free_port, serve

WRITERS = 16
TURNS = 50
MERGES = 8


@pytest.fixture(params=["dynamodb", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(base URL of the dev server, the storage URL it uses)."""
    cleanup: list[Any] = []
    if request.param == "dynamodb":
        from moto.server import ThreadedMotoServer

        from tests.support import moto_dynamodb

        # In this process, so tests/conftest.py's patch applies: without it moto copies
        # the whole table per transaction action and this test once reached 9.5 GB.
        assert moto_dynamodb.installed()
        moto_port = free_port()
        moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        moto_server.start()
        cleanup.append(moto_server.stop)
        url = (f"dynamodb://c{secrets.token_hex(4)}?region=us-east-1"
               f"&endpoint=http://127.0.0.1:{moto_port}")
    else:
        from tests.storage.fakes.pg import create_database, drop_database

        url = create_database("stowage_conc_")
        cleanup.append(lambda: drop_database(url))
    port = free_port()
    monkeypatch.setenv("STOWAGE_STORAGE_URL", url)
    monkeypatch.setenv("STOWAGE_BLOBS_URL", f"file:///{tmp_path}/blobs")
    monkeypatch.setenv("STOWAGE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("STOWAGE_JOBS", "inline")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    _wiring.reset()
    try:
        with serve(local_app, port) as base:
            yield base, url
    finally:
        _wiring.reset()
        for step in reversed(cleanup):
            step()


def _writer(base: str, writer: int) -> list[str]:
    answers = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for turn in range(TURNS):
            reply = client.post("/api/agents/assistant/generate", json={
                "messages": f"w{writer:02d}-{turn:02d}",
                "memory": {"thread": "shared", "resource": "team"},
            })
            assert reply.status_code == 200, reply.text
            answers.append(reply.json()["text"])
    return answers


def _merger(base: str, writer: int) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        for n in range(MERGES):
            reply = client.patch("/api/memory/threads/shared",
                                 json={"metadata": {f"w{writer:02d}_{n}": n}})
            assert reply.status_code == 200, reply.text


def test_sixteen_writers_on_one_thread_lose_nothing(served: tuple[str, str]) -> None:
    base, url = served
    with ThreadPoolExecutor(WRITERS) as pool:
        answers = list(pool.map(lambda w: _writer(base, w), range(WRITERS)))
    assert all(a == [f"Echo: w{w:02d}-{t:02d}" for t in range(TURNS)]
               for w, a in enumerate(answers))

    store = storage.open(url)
    try:
        page = store.memory.list_messages("shared", per_page=None)
        texts = [m.text for m in page.items]
        assert page.total == len(page.items) == 2 * WRITERS * TURNS
        assert len(set(m.id for m in page.items)) == len(page.items)  # no duplicate
        questions = [t for t in texts if not t.startswith("Echo: ")]
        assert sorted(questions) == sorted(f"w{w:02d}-{t:02d}" for w in range(WRITERS)
                                           for t in range(TURNS))
        for w in range(WRITERS):  # each writer's turns in the order it sent them
            mine = [t for t in questions if t.startswith(f"w{w:02d}-")]
            assert mine == sorted(mine)
        position = {t: i for i, t in enumerate(texts)}
        for q in questions:  # each answer after its question
            assert position[f"Echo: {q}"] > position[q]
        stamps = [(m.created_at, m.id) for m in page.items]
        assert stamps == sorted(stamps)
        # The same order page by page (40 at a time) as all at once.
        paged = []
        for n in range(len(texts) // 40):
            paged += [m.id for m in store.memory.list_messages("shared", page=n).items]
        assert paged == [m.id for m in page.items]
        # The thread is listed once for its resource, with one title.
        threads = store.memory.list_threads(resource_id="team")
        assert threads.total == 1 and threads.items[0].id == "shared"

        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(lambda w: _merger(base, w), range(WRITERS)))
        thread = store.memory.get_thread("shared")
        assert thread is not None
        expected = {f"w{w:02d}_{n}": n for w in range(WRITERS) for n in range(MERGES)}
        assert {k: v for k, v in thread.metadata.items() if k in expected} == expected
    finally:
        store.close()
