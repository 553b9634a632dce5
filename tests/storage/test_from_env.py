"""``storage.from_env()``: the embedded default under the project root, and overrides."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import storage
from storage import Thread
from storage.files import FileBlobStore
from storage.sqlite import SQLiteMemoryStore, SQLiteWorkflowStore
from storage.urls import project_root

SCRIPT = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="LOG %(name)s %(message)s")
import storage
first = storage.from_env()
second = storage.from_env()
first.memory.save_thread(storage.Thread(id="t-1", resource_id="u-1"))
uri = first.blobs.put("k", b"x")
print(json.dumps({"module": storage.__file__, "uri": uri,
                  "seen": second.memory.get_thread("t-1") is not None}))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project (``pyproject.toml`` + ``storage/``), so the test owns its root."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(project_root() / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(
        project_root() / "storage", root / "storage",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root


def test_default_is_under_the_project_root_whatever_the_cwd(project: Path, tmp_path: Path) -> None:
    # Given nothing configured and a cwd outside the project
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOWAGE_")}
    env["PYTHONPATH"] = str(project)
    # When a process builds its store from the environment, twice, and uses it
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # Then the database and the blobs are in <project>/.stowage, not in the cwd
    assert out["module"] == str(project / "storage" / "__init__.py")
    database = project / ".stowage" / "stowage.db"
    assert database.is_file()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT id FROM mastra_threads").fetchall() == [("t-1",)]
    assert out["uri"] == (project / ".stowage" / "blobs" / "k").as_uri()
    assert out["seen"] is True
    assert not (cwd / ".stowage").exists()
    # And the resolved path was logged exactly once
    logged = [
        line for line in done.stderr.splitlines()
        if line.startswith("LOG storage ") and str(database) in line
    ]
    assert len(logged) == 1, done.stderr


def test_domain_overrides(tmp_path: Path) -> None:
    main, mem = tmp_path / "main.db", tmp_path / "memory.db"
    store = storage.from_env(
        {
            "STOWAGE_STORAGE_URL": f"sqlite:///{main}",
            "STOWAGE_MEMORY_URL": f"sqlite:///{mem}",
            "STOWAGE_SCORES_URL": "memory://",
            "STOWAGE_BLOBS_URL": f"file:///{tmp_path / 'blobs'}",
        }
    )
    assert isinstance(store.memory, SQLiteMemoryStore)
    assert isinstance(store.workflows, SQLiteWorkflowStore)
    assert not type(store.scores).__module__.startswith("storage.sqlite")
    assert isinstance(store.blobs, FileBlobStore)
    store.setup()
    store.memory.save_thread(Thread(id="t", resource_id="u"))
    store.workflows.persist_snapshot("wf", "r", {"status": "running"})
    with sqlite3.connect(mem) as conn:
        assert conn.execute("SELECT COUNT(*) FROM mastra_threads").fetchone()[0] == 1
        assert conn.execute("SELECT COUNT(*) FROM mastra_workflow_snapshot").fetchone()[0] == 0
    with sqlite3.connect(main) as conn:
        assert conn.execute("SELECT COUNT(*) FROM mastra_threads").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM mastra_workflow_snapshot").fetchone()[0] == 1
    store.close()


def test_one_url_for_two_domains_opens_one_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    store = storage.from_env({"STOWAGE_STORAGE_URL": url, "STOWAGE_MEMORY_URL": url})
    assert isinstance(store.memory, SQLiteMemoryStore)
    assert store.memory._db is store.workflows._db  # type: ignore[union-attr]
    store.close()


def test_a_bad_url_is_a_validation_error() -> None:
    with pytest.raises(storage.ValidationError):
        storage.from_env({"STOWAGE_STORAGE_URL": "nosuchscheme://x"})


def test_vectors_follow_the_memory_domain_unless_told_otherwise(tmp_path: Path) -> None:
    # Messages moved to another store take their vectors along: a vector store beside
    # other messages would skip every upsert (no such message there) and never cascade.
    main, mem = tmp_path / "main.db", tmp_path / "memory.db"
    moved = storage.from_env(
        {"STOWAGE_STORAGE_URL": f"sqlite:///{main}", "STOWAGE_MEMORY_URL": f"sqlite:///{mem}"}
    )
    assert moved.vectors.db is moved.memory._db  # type: ignore[union-attr]
    assert moved.vectors.db is not moved.workflows._db  # type: ignore[union-attr]
    moved.close()

    told = storage.from_env(
        {"STOWAGE_MEMORY_URL": f"sqlite:///{mem}", "STOWAGE_VECTORS_URL": "memory://"}
    )
    assert type(told.vectors).__module__ == "storage.memory.vectors"
    told.close()

    plain = storage.from_env({"STOWAGE_STORAGE_URL": f"sqlite:///{main}"})
    assert plain.vectors.db is plain.memory._db  # type: ignore[union-attr]
    plain.close()
