"""SQLite vectors: what only this backend has (triggers, two distance paths, one file)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

import storage
from storage.errors import ValidationError
from storage.records import Message, MessageVector, Thread
from storage.sqlite import SQLiteStore
from storage.sqlite.schema import VECTORS
from tests.storage.conformance.helpers import at, content
from tests.storage.conformance.vector_backends import extension_capable_sqlite


def _seed(store: SQLiteStore, count: int = 3) -> list[Message]:
    store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
    messages = store.memory.save_messages(
        [
            Message(id=f"m-{i}", thread_id="t-1", role="user", content=content(f"text {i}"),
                    created_at=at(i))
            for i in range(count)
        ]
    )
    store.vectors.upsert(
        [
            MessageVector(message_id=m.id, thread_id="t-1", resource_id="u-1",
                          created_at=m.created_at, vector=(1.0, float(i), 0.5), embedder="e")
            for i, m in enumerate(messages)
        ]
    )
    return messages


def _vector_rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:  # a plain connection, as another writer has
        return [r[0] for r in conn.execute(f"SELECT message_id FROM {VECTORS} ORDER BY 1")]


def test_a_writer_without_sqlite_vec_still_cascades(tmp_path: Path) -> None:
    # Mastra's libsql (no sqlite-vec loaded) deleting or editing a message in the same
    # file: the triggers are plain SQL, so the vector goes in that writer's transaction.
    path = tmp_path / "shared.db"
    store = SQLiteStore(path, load_vec=False)
    _seed(store)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM mastra_messages WHERE id = 'm-0'")
        conn.execute("UPDATE mastra_messages SET content = '{\"format\":2}' WHERE id = 'm-1'")
        conn.execute("UPDATE mastra_messages SET role = 'assistant' WHERE id = 'm-2'")
    assert _vector_rows(path) == ["m-2"]  # a role change keeps the vector
    store.close()


def test_both_distance_paths_read_one_file_alike(tmp_path: Path) -> None:
    path = tmp_path / "both.db"
    with_vec = SQLiteStore(path, dbapi=extension_capable_sqlite())
    _seed(with_vec, count=6)
    expected = with_vec.vectors.search((1.0, 2.2, 0.5), embedder="e", resource_id="u-1", top_k=6)
    with_vec.close()

    python = SQLiteStore(path, dbapi=sqlite3, load_vec=False)  # the stdlib driver
    found = python.vectors.search((1.0, 2.2, 0.5), embedder="e", resource_id="u-1", top_k=6)
    python.close()

    assert [m.message_id for m in found] == [m.message_id for m in expected]
    assert [m.score for m in found] == pytest.approx([m.score for m in expected], abs=1e-6)


def test_a_file_from_before_the_vectors_migration_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SQLiteStore(path, load_vec=False)
    store.setup()
    with sqlite3.connect(path) as conn:  # as a file the previous release left it
        conn.execute(f"DROP TABLE {VECTORS}")
        conn.execute("DROP TABLE stowage_vector_index")
        conn.execute("DELETE FROM stowage_migrations WHERE version = 4")
    store.close()

    reopened = SQLiteStore(path, load_vec=False)
    _seed(reopened)
    assert reopened.vectors.index() == ("e", 3)
    assert _vector_rows(path) == ["m-0", "m-1", "m-2"]
    reopened.close()


def test_driver_auto_searches_with_sqlite_vec_on_any_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # make dev runs with STOWAGE_SQLITE_DRIVER=auto: even a Python whose sqlite3 cannot
    # load extensions (this machine's pyenv build) searches in sqlite-vec, not in Python.
    if sys.platform not in ("linux", "darwin"):
        pytest.skip("sqlean.py has wheels for Linux and macOS only")
    monkeypatch.setenv("STOWAGE_SQLITE_DRIVER", "auto")
    store = storage.from_env({"STOWAGE_STORAGE_URL": f"sqlite:///{tmp_path / 'dev.db'}"})
    assert store.vectors.db.has_sqlite_vec  # type: ignore[union-attr]
    _seed(store)  # type: ignore[arg-type]
    with store.vectors.db.read() as conn:  # type: ignore[union-attr]
        (version,) = conn.execute("SELECT vec_version()").fetchone()
    assert version.startswith("v")
    store.close()


def test_python_s_own_sqlite3_is_the_default_driver(tmp_path: Path) -> None:
    # Two SQLite libraries in one process must not open one file: another one only when
    # asked for.
    store = storage.open(f"sqlite:///{tmp_path / 'plain.db'}")
    assert store.db.dbapi is sqlite3
    store.close()


@pytest.mark.parametrize(("query", "env"), [("?driver=sqlean", None), ("", "sqlean")])
def test_the_driver_can_be_named_in_the_url_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query: str, env: str | None
) -> None:
    import sqlean  # type: ignore[import-not-found,unused-ignore]

    if env:
        monkeypatch.setenv("STOWAGE_SQLITE_DRIVER", env)
    store = storage.open(f"sqlite:///{tmp_path / 'named.db'}{query}")
    assert store.db.dbapi is sqlean and store.db.has_sqlite_vec
    store.close()


@pytest.mark.parametrize("driver", ["pysqlite3", "SQLITE3", "", " auto"])
def test_an_unknown_driver_is_refused(tmp_path: Path, driver: str) -> None:
    with pytest.raises(ValidationError, match="driver"):
        storage.open(f"sqlite:///{tmp_path / 'x.db'}?driver={driver}")


def test_auto_picks_sqlite3_when_it_can_load_extensions_else_sqlean_else_sqlite3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqlean  # type: ignore[import-not-found,unused-ignore]

    from storage.sqlite import db

    class Capable(sqlite3.Connection):
        def enable_load_extension(self, enabled: bool) -> None: ...

    class Incapable:
        pass

    def pick(connection: type, *, sqlean_installed: bool) -> object:
        db._sqlean.cache_clear()
        monkeypatch.setattr(db.sqlite3, "Connection", connection)
        monkeypatch.setitem(sys.modules, "sqlean", sqlean if sqlean_installed else None)
        try:
            return db.resolve_dbapi("auto")
        finally:
            monkeypatch.undo()
            db._sqlean.cache_clear()

    assert pick(Capable, sqlean_installed=True) is sqlite3
    assert pick(Incapable, sqlean_installed=True) is sqlean
    assert pick(Incapable, sqlean_installed=False) is sqlite3
    with pytest.raises(ValidationError, match=r"sqlean\.py"):
        monkeypatch.setitem(sys.modules, "sqlean", None)
        db._sqlean.cache_clear()
        db.resolve_dbapi("sqlean")
    monkeypatch.undo()
    db._sqlean.cache_clear()
