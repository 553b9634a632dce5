"""Mastra Studio against ``make dev``: the npm packages, Chromium and both servers.

- ``npm ci`` here installs ``mastra`` (Studio), ``playwright-core`` and Node 22 (the
  ``node`` npm package) when ``node_modules`` is missing or from another lockfile.
- Chromium is Debian's ``chromium`` package: when missing it is installed with
  ``apt-get`` if this runs as root (CI, this workplace), else the test skips. Under
  ``CI=true`` a browser that cannot be had fails the run. No browser is ever
  downloaded by a driver.
- The dev server (``python -m handlers.local``, what ``make dev`` runs) serves the
  embedded default (SQLite + a blob folder) in a temporary folder; ``mastra studio``
  serves Studio on another port, pointed at it. Both are subprocesses of the session.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.handlers.servers import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LOCKFILE = HERE / "package-lock.json"
MODULES = HERE / "node_modules"
STAMP = MODULES / ".stowage-lock-sha256"
SCREENSHOTS = HERE / "screenshots"
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def _lock_hash() -> str:
    return hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()


def _installed() -> bool:
    return ((MODULES / ".bin" / "node").exists() and STAMP.is_file()
            and STAMP.read_text().strip() == _lock_hash())


def ensure_node_modules() -> Path:
    """Install the pinned packages if needed; return the Node 22 binary."""
    if not _installed():
        npm = shutil.which("npm")
        if npm is None:
            skip_or_fail("npm is not installed, so Mastra Studio cannot be")
        with (HERE / ".npm-ci.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _installed():
                done = subprocess.run(
                    [str(npm), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=HERE, capture_output=True, text=True, timeout=900, check=False)
                if done.returncode != 0:
                    skip_or_fail(f"npm ci in tests/studio failed: {done.stderr[-1500:]}")
                STAMP.write_text(_lock_hash())
    return MODULES / ".bin" / "node"


def find_chromium() -> str | None:
    """Debian's Chromium, if installed."""
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def ensure_chromium() -> str:
    """Chromium's path, installing Debian's package when missing and allowed (root + apt)."""
    found = find_chromium()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        skip_or_fail("chromium is not installed (apt-get install chromium needs root)")
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            skip_or_fail(f"{' '.join(command)} failed: {done.stderr[-1500:]}")
    found = find_chromium()
    if not found:
        skip_or_fail("apt-get installed chromium but no chromium binary is on PATH")
    assert found is not None
    return found


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass(frozen=True)
class Studio:
    """Studio's URL, the API's, Chromium and Node, for the driver script."""

    url: str
    api_url: str
    chromium: str
    node: Path
    screenshots: Path


@pytest.fixture(scope="session")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """``make dev``'s server and ``mastra studio`` pointed at it, on free ports."""
    node = ensure_node_modules()
    chromium = ensure_chromium()
    data = tmp_path_factory.mktemp("studio-dev")
    api_port, studio_port = free_port(), free_port()
    env = {**os.environ, "STOWAGE_PORT": str(api_port),
           "STOWAGE_STORAGE_URL": f"sqlite:///{data}/stowage.db",
           "STOWAGE_BLOBS_URL": f"file:///{data}/blobs", "STOWAGE_LOG_LEVEL": "WARNING"}
    logs = data / "logs"
    logs.mkdir()
    with (logs / "dev.log").open("wb") as dev_log, (logs / "studio.log").open("wb") as studio_log:
        dev = subprocess.Popen([sys.executable, "-m", "handlers.local"], cwd=ROOT, env=env,
                               stdout=dev_log, stderr=subprocess.STDOUT)
        ui = subprocess.Popen(
            [str(node), str(MODULES / "mastra" / "dist" / "index.js"), "studio",
             "-p", str(studio_port), "-s", str(api_port)],
            cwd=HERE, stdout=studio_log, stderr=subprocess.STDOUT,
            env={**os.environ, "MASTRA_TELEMETRY_DISABLED": "1"})
        try:
            _wait_http(f"http://127.0.0.1:{api_port}/api/health", dev, "the dev server", 60)
            _wait_http(f"http://localhost:{studio_port}/", ui, "mastra studio", 60)
            yield Studio(f"http://localhost:{studio_port}", f"http://localhost:{api_port}",
                         chromium, node, SCREENSHOTS)
        except RuntimeError as exc:
            pytest.fail(f"{exc}\n--- dev server ---\n{(logs / 'dev.log').read_text()[-2000:]}"
                        f"\n--- studio ---\n{(logs / 'studio.log').read_text()[-2000:]}")
        finally:
            _stop(ui)
            _stop(dev)
