"""The stream function's handler: run.sh starts uvicorn on $PORT serving handlers.stream:app.

The asset's own wheels are aarch64, so the script runs here from the project root with
the virtualenv's packages: what is under test is the script the adapter executes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra import bundling
from infra.app import ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_sh_serves_the_stream_app_on_port(tmp_path: Path) -> None:
    asset = bundling.build_asset(ROOT, bundling.function_requirements(ROOT))
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "STOWAGE_STORAGE_URL": "memory://",
        "STOWAGE_BLOBS_URL": "memory://",
        "STOWAGE_MODEL": "local/echo",
        "STOWAGE_JOBS": "inline",
    }
    server = subprocess.Popen(
        ["bash", str(asset.path / bundling.STREAM_HANDLER)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while True:
            try:
                with httpx.stream(
                    "POST",
                    f"http://127.0.0.1:{port}/api/agents/assistant/stream",
                    json={
                        "messages": [{"role": "user", "content": "hello there"}],
                        "memory": {"thread": "t-1", "resource": "u-1"},
                    },
                    timeout=30,
                ) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    lines = [line for line in response.iter_lines() if line]
                break
            except httpx.ConnectError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert lines[-1] == "data: [DONE]"
    assert any('"type":"text-delta"' in line.replace(" ", "") for line in lines)
    assert any("hello there" in line for line in lines if '"finish"' in line.replace(" ", ""))
