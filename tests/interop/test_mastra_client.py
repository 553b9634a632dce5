"""Mastra's own client, ``@mastra/client-js``, against the dev server (``make dev``).

The server runs as ``python -m handlers.local`` in a subprocess on a free port, on a
SQLite file and a blob folder of the test; the JS script calls every client method
of the issue, and the test checks the answers against what the store holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import storage
from storage.urls import project_root
from tests.handlers.servers import free_port
from tests.interop.conftest import Node

pytestmark = pytest.mark.node


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    db = tmp_path / "stowage.db"
    env = {
        **os.environ,
        "STOWAGE_PORT": str(port),
        "STOWAGE_STORAGE_URL": f"sqlite:///{db}",
        "STOWAGE_BLOBS_URL": f"file:///{tmp_path}/blobs",
        "STOWAGE_AGENTS_MODULE": "tests.interop.client_agents",
        "STOWAGE_TEST_GATE": str(tmp_path / "gate"),
        "STOWAGE_JOBS": "inline",
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "handlers.local"], cwd=project_root(),
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.1)
        yield base, db
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def test_mastra_client_js_against_the_dev_server(node: Node, dev_server: tuple[str, Path],
                                                 tmp_path: Path) -> None:
    base, db = dev_server
    out: dict[str, Any] = node.run("mastra_client.mjs", base, str(tmp_path / "gate"),
                                   timeout=180)
    store = storage.open(f"sqlite:///{db}")
    memory = store.memory

    assert out["agentIds"] == ["assistant", "gated", "recaller"]
    assert out["details"]["modelId"] == "local/echo"
    assert out["created"]["id"] == "thread-js" and out["created"]["resourceId"] == "user-js"
    assert [t["id"] for t in out["listed"]["threads"]] == ["thread-js"]
    assert out["got"]["title"] == "From client-js"
    assert out["updated"]["title"] == "Renamed by client-js"
    assert out["updated"]["metadata"] == {"source": "js", "step": 2}

    # generate with memory: both turns stored, in order
    assert out["generated"]["text"] == "Echo: hello from client-js"
    assert out["generated2"]["text"] == "Echo: and again"
    stored = memory.list_messages("thread-js", per_page=None).items
    assert [m.text for m in stored] == ["hello from client-js", "Echo: hello from client-js",
                                       "and again", "Echo: and again"]
    assert [m["id"] for m in out["messages"]["messages"]] == [m.id for m in stored]
    assert out["messages"]["total"] == 4
    assert memory.get_thread("thread-js").title == "Renamed by client-js"

    # stream: the first word was consumed while the model waited for the gate
    stream = out["stream"]
    assert stream["textBeforeGate"] == "Gated:"
    assert stream["types"][0] == "start" and stream["types"][-1] == "finish"
    assert stream["text"] == "Gated: streamed words arrive one by one"
    assert len(stream["runIds"]) == 1
    streamed = memory.list_messages("thread-stream").items
    assert [m.text for m in streamed] == ["streamed words arrive one by one", stream["text"]]

    # working memory
    assert out["wmBefore"]["workingMemory"] is None and out["wmBefore"]["threadExists"] is True
    assert out["wmUpdate"] == {"success": True}
    assert out["wmAfter"]["workingMemory"] == "# Name: Ada (from client-js)"
    assert memory.get_resource("user-js").working_memory == "# Name: Ada (from client-js)"

    # errors and delete
    assert out["missing"] == {"status": 404, "body": {"error": "Thread not found"}}
    assert out["deleted"] == {"result": "Thread deleted"}
    assert memory.get_thread("thread-gone") is None
    assert sorted(t["id"] for t in out["afterDelete"]["threads"]) == ["thread-js",
                                                                      "thread-stream"]

    # semantic recall through client-js searchMemory
    search = out["search"]
    assert (search["query"], search["searchType"], search["searchScope"]) == (
        "what is my cat called", "semantic", "resource")
    assert search["count"] == len(search["results"]) == 2
    best = max(search["results"], key=lambda r: r["score"])
    assert best["content"] == "my cat is called Miso" and best["threadId"] == "thread-recall"
    assert best["context"]["after"][0]["content"] == "Echo: my cat is called Miso"
