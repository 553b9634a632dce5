"""SQLite-specific behaviour: Mastra's schema and encodings, migrations, concurrency."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import storage
from storage import Message, Thread, UnavailableError, ValidationError
from storage.keys import attachment_key, thread_attachment_prefix
from storage.sqlite import SQLiteStore
from storage.sqlite._jsonb import decode
from storage.sqlite.schema import MIGRATIONS
from storage.urls import project_root

T0 = datetime(2025, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)

# Mastra's columns, as @mastra/libsql 1.23 creates them (TABLE_SCHEMAS in @mastra/core).
MASTRA_COLUMNS = {
    "mastra_threads": ["id", "resourceId", "title", "metadata", "createdAt", "updatedAt"],
    "mastra_messages": [
        "id", "thread_id", "content", "role", "type", "createdAt", "resourceId",
    ],
    "mastra_resources": ["id", "workingMemory", "metadata", "createdAt", "updatedAt"],
    "mastra_workflow_snapshot": [
        "workflow_name", "run_id", "resourceId", "snapshot", "createdAt", "updatedAt",
    ],
    "mastra_scorers": [
        "id", "scorerId", "traceId", "spanId", "runId", "scorer", "score", "reason", "metadata",
        "input", "output", "entityType", "entityId", "source", "resourceId", "threadId",
        "createdAt", "updatedAt",
    ],
    "mastra_ai_spans": [
        "traceId", "spanId", "name", "spanType", "isEvent", "startedAt", "parentSpanId",
        "entityType", "entityId", "entityName", "resourceId", "runId", "threadId", "metadata",
        "attributes", "input", "output", "error", "endedAt", "createdAt", "updatedAt",
    ],
}


def text_message(mid: str, thread_id: str, text: str, at: datetime, role: str = "user") -> Message:
    return Message(
        id=mid,
        thread_id=thread_id,
        role=role,
        content={"format": 2, "parts": [{"type": "text", "text": text}]},
        created_at=at,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stowage.db"


@pytest.fixture
def store(db_path: Path) -> Any:
    opened = storage.open(f"sqlite:///{db_path}")
    opened.setup()
    yield opened
    opened.close()


def raw(db_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(db_path)


# --- URLs and setup ----------------------------------------------------------------------


def test_relative_url_resolves_against_the_project_root_not_the_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    opened = storage.open("sqlite:///.stowage/elsewhere-test.db")
    assert isinstance(opened, SQLiteStore)
    assert opened.path == project_root() / ".stowage" / "elsewhere-test.db"
    opened.close()


def test_absolute_url_creates_the_file_on_first_use(db_path: Path) -> None:
    opened = storage.open(f"sqlite:///{db_path}")
    assert not db_path.exists()
    opened.memory.save_thread(Thread(id="t", resource_id="u"))  # no setup(): first use
    assert db_path.is_file()
    opened.close()


@pytest.mark.parametrize("missing", ["nonexistent-dir", "nonexistent-dir/deeper"])
def test_absolute_url_in_a_missing_folder_is_refused_and_creates_nothing(
    tmp_path: Path, missing: str
) -> None:
    # Issue 11: sqlite:////nonexistent-dir/x.db created a folder at the filesystem root.
    target = tmp_path / missing / "x.db"
    with pytest.raises(ValidationError, match="does not exist; create it first"):
        storage.open(f"sqlite:///{target}")
    assert not (tmp_path / "nonexistent-dir").exists()
    with pytest.raises(ValidationError, match="nonexistent-dir"):
        storage.open("sqlite:////nonexistent-dir-stowage-test/x.db")
    assert not Path("/nonexistent-dir-stowage-test").exists()


def test_relative_url_creates_missing_folders_inside_the_project_root() -> None:
    folder = project_root() / ".stowage" / f"created-{uuid.uuid4().hex[:8]}"
    opened = storage.open(f"sqlite:///{folder.relative_to(project_root())}/deep/x.db")
    try:
        opened.memory.save_thread(Thread(id="t", resource_id="u"))
        assert (folder / "deep" / "x.db").is_file()
    finally:
        opened.close()
        shutil.rmtree(folder)


def test_bad_timeout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        storage.open(f"sqlite:///{tmp_path}/x.db?timeout=soon")


def test_setup_uses_wal_and_records_each_migration_once(store: Any, db_path: Path) -> None:
    store.setup()
    store.setup()
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [r[0] for r in conn.execute("SELECT version FROM stowage_migrations")]
    assert versions == [m.version for m in MIGRATIONS]


def test_tables_have_mastras_names_and_columns(store: Any, db_path: Path) -> None:
    with raw(db_path) as conn:
        for table, columns in MASTRA_COLUMNS.items():
            present = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
            assert set(columns) <= present, table


def test_every_list_query_uses_an_index(store: Any, db_path: Path) -> None:
    queries = [
        'SELECT * FROM mastra_threads WHERE "resourceId" = ? ORDER BY "updatedAt" DESC, id DESC',
        'SELECT * FROM mastra_messages WHERE thread_id = ? ORDER BY "createdAt", id',
        'SELECT * FROM mastra_workflow_snapshot WHERE workflow_name = ? ORDER BY "createdAt" DESC',
        'SELECT * FROM mastra_ai_spans WHERE "traceId" = ? ORDER BY "startedAt"',
        'SELECT * FROM mastra_scorers WHERE "runId" = ? ORDER BY "createdAt" DESC, id DESC',
    ]
    with raw(db_path) as conn:
        for query in queries:
            plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {query}", ("x",)))
            assert "USING" in plan and "TEMP B-TREE" not in plan, (query, plan)


# --- Mastra's encodings ------------------------------------------------------------------


def test_rows_are_encoded_as_mastra_writes_them(store: Any, db_path: Path) -> None:
    store.memory.save_thread(
        Thread(id="t1", resource_id="u1", title="Hi", metadata={"k": "v"}, created_at=T0,
               updated_at=T0)
    )
    store.memory.save_messages([text_message("m1", "t1", "héllo", T0)])
    with raw(db_path) as conn:
        thread = conn.execute('SELECT title, metadata, "createdAt" FROM mastra_threads').fetchone()
        message = conn.execute(
            'SELECT content, role, type, "createdAt", "resourceId" FROM mastra_messages'
        ).fetchone()
    assert thread[0] == "Hi"
    assert json.loads(thread[1]) == {"k": "v"}
    assert thread[2] == "2025-03-04T05:06:07.890Z"  # Date.prototype.toISOString()
    assert json.loads(message[0]) == {"format": 2, "parts": [{"type": "text", "text": "héllo"}]}
    assert message[1:] == ("user", "v2", "2025-03-04T05:06:07.890Z", "u1")


def test_jsonb_blobs_written_by_mastra_are_read(store: Any, db_path: Path) -> None:
    # jsonb('{"team":"a","n":2}') as @mastra/libsql's updateThread stores it.
    blob = bytes.fromhex("BC477465616D1761176E1332")
    assert decode(blob) == {"team": "a", "n": 2}
    with raw(db_path) as conn:
        conn.execute(
            "INSERT INTO mastra_threads VALUES (?, ?, ?, ?, ?, ?)",
            ("t1", "u1", "From Mastra", blob, "2025-01-01T00:00:00.000Z",
             "2025-01-01T00:00:00.000Z"),
        )
    thread = store.memory.get_thread("t1")
    assert thread is not None and thread.metadata == {"team": "a", "n": 2}
    assert store.memory.list_threads(metadata={"team": "a"}).total == 1
    assert store.memory.list_threads(metadata={"team": "b"}).total == 0


def test_jsonb_decoder_reads_every_element_type() -> None:
    # Produced by libsql: jsonb('{"a":[1,2.5,"x\n\"q",true,false,null],"b":{...},"long":...}')
    blob = bytes.fromhex(
        "DC01611761CB10133135322E3568785C6E5C22710102001762CC15176357C3A920C3BC176423"
        "2D371765553165333030476C6F6E67D7012C" + "79" * 300
    )
    assert decode(blob) == {
        "a": [1, 2.5, 'x\n"q', True, False, None],
        "b": {"c": "é ü", "d": -7, "e": 1e300},
        "long": "y" * 300,
    }
    with pytest.raises(storage.StorageError):
        decode(blob[:-1])


def test_a_table_mastra_created_keeps_working(tmp_path: Path) -> None:
    # Given the tables as an older Mastra created them: title NOT NULL, no resourceId
    path = tmp_path / "mastra.db"
    with raw(path) as conn:
        conn.execute(
            'CREATE TABLE mastra_threads ("id" TEXT NOT NULL PRIMARY KEY, '
            '"resourceId" TEXT NOT NULL, "title" TEXT NOT NULL, "metadata" TEXT, '
            '"createdAt" TEXT NOT NULL, "updatedAt" TEXT NOT NULL)'
        )
        conn.execute(
            'CREATE TABLE mastra_messages ("id" TEXT NOT NULL PRIMARY KEY, '
            '"thread_id" TEXT NOT NULL, "content" TEXT NOT NULL, "role" TEXT NOT NULL, '
            '"type" TEXT NOT NULL, "createdAt" TEXT NOT NULL)'
        )
    opened = storage.open(f"sqlite:///{path}")
    # When Stowage writes an untitled thread and a message
    opened.memory.save_thread(Thread(id="t", resource_id="u"))
    opened.memory.save_messages([text_message("m", "t", "x", T0)])
    # Then the missing column was added and the NOT NULL title holds ''
    assert opened.memory.get_thread("t").title == ""
    assert opened.memory.get_messages(["m"])[0].resource_id == "u"
    opened.close()


# --- transactions and concurrency ---------------------------------------------------------


def test_save_messages_is_all_or_nothing(store: Any) -> None:
    store.memory.save_thread(Thread(id="t1", resource_id="u1"))
    with pytest.raises(storage.NotFoundError):
        store.memory.save_messages(
            [text_message("a", "t1", "ok", T0), text_message("b", "missing", "no", T0)]
        )
    assert store.memory.get_messages(["a", "b"]) == []


def test_a_held_write_lock_surfaces_as_unavailable(db_path: Path) -> None:
    opened = storage.open(f"sqlite:///{db_path}?timeout=0.05")
    opened.setup()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(UnavailableError) as info:
            opened.memory.save_thread(Thread(id="t", resource_id="u"))
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    opened.memory.save_thread(Thread(id="t", resource_id="u"))  # works once released
    opened.close()


def test_concurrent_metadata_merges_lose_no_key(store: Any) -> None:
    store.memory.save_thread(Thread(id="t", resource_id="u"))

    def merge(n: int) -> None:
        for i in range(10):
            store.memory.update_thread("t", metadata={f"k{n}_{i}": i})

    workers = [threading.Thread(target=merge, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(store.memory.get_thread("t").metadata) == 40


def _save_turns(path: str, worker: int, turns: int) -> None:
    opened = storage.open(f"sqlite:///{path}")
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for turn in range(turns):
        at = base + timedelta(milliseconds=turn)
        opened.memory.save_messages(
            [
                text_message(f"w{worker}-{turn}-u", "shared", "question", at),
                text_message(f"w{worker}-{turn}-a", "shared", "answer", at, role="assistant"),
            ]
        )
    opened.close()


def test_two_processes_share_one_file(store: Any, db_path: Path) -> None:
    # Given one thread in a file two processes write to at once
    store.memory.save_thread(Thread(id="shared", resource_id="u"))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_save_turns, args=(str(db_path), n, 40)) for n in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    # Then every turn of both is there, exactly once
    assert [p.exitcode for p in procs] == [0, 0]
    page = store.memory.list_messages("shared", per_page=None)
    assert page.total == 160
    assert len({m.id for m in page.items}) == 160


# --- blobs --------------------------------------------------------------------------------


def test_delete_thread_deletes_its_attachments(tmp_path: Path) -> None:
    composite = storage.CompositeStore(
        storage.open(f"sqlite:///{tmp_path}/s.db"), blobs=storage.open(f"file:///{tmp_path}/b")
    )
    composite.setup()
    composite.memory.save_thread(Thread(id="t/1", resource_id="u 1"))
    composite.memory.save_thread(Thread(id="t2", resource_id="u 1"))
    mine = composite.blobs.put(attachment_key("u 1", "t/1", "ab" * 32), b"mine")
    other = composite.blobs.put(attachment_key("u 1", "t2", "cd" * 32), b"other")
    composite.memory.delete_thread("t/1")
    with pytest.raises(storage.NotFoundError):
        composite.blobs.get(mine)
    assert composite.blobs.get(other) == b"other"
    assert thread_attachment_prefix("u 1", "t/1").startswith("attachments/u%201/t%2F1/")
    composite.close()


def _open_handles(path: Path) -> int:
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc to count open files")
    count = 0
    for fd in fds.iterdir():
        try:
            count += Path(os.readlink(fd)) == path
        except OSError:
            continue
    return count


def test_short_lived_threads_leak_no_connections(store: Any, db_path: Path) -> None:
    store.memory.save_thread(Thread(id="t", resource_id="u"))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            assert store.memory.get_thread("t") is not None
        except BaseException as exc:
            errors.append(exc)

    for _ in range(5):
        workers = [threading.Thread(target=read) for _ in range(20)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert errors == []
    handles = _open_handles(db_path)
    assert handles <= store.db.max_idle, handles
    store.close()
    assert _open_handles(db_path) == 0
    with pytest.raises(storage.StorageError):
        store.memory.get_thread("t")


def _use_inherited(opened: Any) -> None:
    opened.memory.save_messages([text_message("from-child", "t", "hi", T0)])
    opened.close()


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork()"
)
def test_a_forked_child_opens_its_own_connections(store: Any) -> None:
    # Given a store whose pool already holds a connection
    store.memory.save_thread(Thread(id="t", resource_id="u"))
    # When a forked child uses (and closes) the inherited store object
    child = multiprocessing.get_context("fork").Process(target=_use_inherited, args=(store,))
    child.start()
    child.join(timeout=60)
    # Then the child's write landed and the parent's connections still work
    assert child.exitcode == 0
    assert [m.id for m in store.memory.get_messages(["from-child"])] == ["from-child"]
    store.memory.save_messages([text_message("from-parent", "t", "hi", T0)])
    assert store.memory.list_messages("t").total == 2
