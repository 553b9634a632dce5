"""The stream function's handler: run.sh starts uvicorn on $PORT serving handlers.stream:app.

What is under test is the script the web adapter executes, not the stream handler
(another part's work, tested there): it runs against a minimal ASGI app standing in
for ``handlers.stream`` in a scratch folder, with the virtualenv's uvicorn (the asset's
own wheels are aarch64).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra import bundling
from infra.app import ROOT

ASGI_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = f"{scope['method']} {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_sh_starts_uvicorn_on_port_with_the_stream_app(tmp_path: Path) -> None:
    # Given the built asset's run.sh in a task root whose handlers.stream is a tiny app
    asset = bundling.build_asset(ROOT, bundling.function_requirements(ROOT))
    task_root = tmp_path / "task"
    (task_root / "handlers").mkdir(parents=True)
    (task_root / "handlers" / "__init__.py").write_text("")
    (task_root / "handlers" / "stream.py").write_text(ASGI_APP)
    shutil.copy2(asset.path / bundling.STREAM_HANDLER, task_root / bundling.STREAM_HANDLER)
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "LAMBDA_TASK_ROOT": str(task_root),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }

    # When the adapter would start it
    server = subprocess.Popen(
        [str(task_root / bundling.STREAM_HANDLER)],
        cwd=task_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/api/agents/a/stream", timeout=10)
                break
            except httpx.ConnectError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)

    # Then uvicorn served handlers.stream:app on $PORT, the path untouched
    assert response.status_code == 200
    assert response.text == "POST /api/agents/a/stream"
