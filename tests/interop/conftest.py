"""Node 22 and Mastra's pinned npm packages, for tests that talk to Mastra itself.

The session fixture ``node`` runs ``npm ci`` in this folder when ``node_modules`` is
missing or was installed from another lockfile (a hash of ``package-lock.json`` is
kept in ``node_modules/.stowage-lock-sha256``), then runs JS files with the Node 22
binary the ``node`` npm package installs (``@mastra/libsql`` needs Node >= 22.13).
Without npm, or when the install fails, the tests skip on a laptop and fail under CI.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail

HERE = Path(__file__).resolve().parent
LOCKFILE = HERE / "package-lock.json"
MODULES = HERE / "node_modules"
STAMP = MODULES / ".stowage-lock-sha256"


def _lock_hash() -> str:
    return hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()


def _installed() -> bool:
    node = MODULES / ".bin" / "node"
    return node.exists() and STAMP.is_file() and STAMP.read_text().strip() == _lock_hash()


def ensure_node_modules() -> Path:
    """Install the pinned packages if needed; return the Node 22 binary."""
    if not _installed():
        npm = shutil.which("npm")
        if npm is None:
            skip_or_fail("npm is not installed, so Mastra's packages cannot be")
        # One installer at a time, across pytest-xdist workers.
        with (HERE / ".npm-ci.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _installed():
                done = subprocess.run(
                    [str(npm), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=HERE, capture_output=True, text=True, timeout=900, check=False,
                )
                if done.returncode != 0:
                    skip_or_fail(f"npm ci in tests/interop failed: {done.stderr[-1500:]}")
                STAMP.write_text(_lock_hash())
    return MODULES / ".bin" / "node"


@dataclass(frozen=True)
class Node:
    """Runs JS files of this folder with Node 22 and the pinned packages."""

    binary: Path

    def run(self, script: str | Path, *args: str, timeout: float = 120) -> Any:
        """Run ``script`` (relative to ``tests/interop``) and return its JSON stdout.

        Raises:
            AssertionError: the script exited non-zero (its stderr is in the message).
        """
        done = subprocess.run(
            [str(self.binary), str(HERE / script), *args],
            cwd=HERE, capture_output=True, text=True, timeout=timeout, check=False,
        )
        assert done.returncode == 0, f"{script} failed:\n{done.stderr[-3000:]}"
        return json.loads(done.stdout)

    def version(self) -> str:
        """``node --version`` of the binary in use."""
        done = subprocess.run(
            [str(self.binary), "--version"], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()


@pytest.fixture(scope="session")
def node() -> Node:
    """Node 22 with ``@mastra/core``, ``@mastra/libsql``, ``@mastra/pg``, ``@mastra/client-js``."""
    return Node(ensure_node_modules())


@pytest.fixture(scope="session", autouse=True)
def _node_modules() -> None:
    """Every test here drives Mastra's packages: install them before any runs."""
    ensure_node_modules()
