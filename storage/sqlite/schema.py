"""The SQLite schema: Mastra's tables, as ``@mastra/libsql`` creates them, plus indexes.

Tables and columns are exactly Mastra's (``TABLE_SCHEMAS`` in ``@mastra/core``), so a
Mastra app opening the same file reads what Stowage wrote and the other way round.
One deliberate difference: ``mastra_threads.title`` is nullable here (Stowage threads
may have no title yet); Mastra's own inserts are unaffected. When Mastra created the
table first, the column stays ``NOT NULL`` and an untitled thread is stored as ``''``.

``MIGRATIONS`` is ordered and append-only; the versions applied are recorded in
``stowage_migrations``. Each runs in the same ``BEGIN IMMEDIATE`` transaction as its
record, so two processes starting at once apply it exactly once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.timeutil import to_iso, utcnow

if TYPE_CHECKING:
    from storage.sqlite.db import SQLiteDatabase

log = logging.getLogger(__name__)

THREADS = "mastra_threads"
MESSAGES = "mastra_messages"
RESOURCES = "mastra_resources"
WORKFLOWS = "mastra_workflow_snapshot"
SCORES = "mastra_scorers"
SPANS = "mastra_ai_spans"
PENDING_BLOB_DELETES = "stowage_pending_blob_deletes"
VECTORS = "stowage_message_vectors"
VECTOR_INDEX = "stowage_vector_index"

# Column name -> SQLite type and constraint, in Mastra's order.
_TABLES: dict[str, dict[str, str]] = {
    THREADS: {
        "id": "TEXT NOT NULL PRIMARY KEY",
        "resourceId": "TEXT NOT NULL",
        "title": "TEXT",
        "metadata": "TEXT",
        "createdAt": "TEXT NOT NULL",
        "updatedAt": "TEXT NOT NULL",
    },
    MESSAGES: {
        "id": "TEXT NOT NULL PRIMARY KEY",
        "thread_id": "TEXT NOT NULL",
        "content": "TEXT NOT NULL",
        "role": "TEXT NOT NULL",
        "type": "TEXT NOT NULL",
        "createdAt": "TEXT NOT NULL",
        "resourceId": "TEXT",
    },
    RESOURCES: {
        "id": "TEXT NOT NULL PRIMARY KEY",
        "workingMemory": "TEXT",
        "metadata": "TEXT",
        "createdAt": "TEXT NOT NULL",
        "updatedAt": "TEXT NOT NULL",
    },
    WORKFLOWS: {
        "workflow_name": "TEXT",
        "run_id": "TEXT",
        "resourceId": "TEXT",
        "snapshot": "TEXT",
        "createdAt": "TEXT",
        "updatedAt": "TEXT",
    },
    SCORES: {
        "id": "TEXT NOT NULL PRIMARY KEY",
        **{
            name: "TEXT"
            for name in (
                "scorerId", "traceId", "spanId", "runId", "scorer", "preprocessStepResult",
                "extractStepResult", "analyzeStepResult",
            )
        },
        "score": "REAL",
        **{
            name: "TEXT"
            for name in (
                "reason", "metadata", "preprocessPrompt", "extractPrompt", "generateScorePrompt",
                "generateReasonPrompt", "analyzePrompt", "reasonPrompt", "input", "output",
                "additionalContext", "requestContext", "entityType", "entity", "entityId",
                "source", "resourceId", "threadId", "organizationId", "projectId", "batchId",
                "datasetId", "datasetItemId", "createdAt", "updatedAt",
            )
        },
    },
    SPANS: {
        "traceId": "TEXT NOT NULL",
        "spanId": "TEXT NOT NULL",
        "name": "TEXT NOT NULL",
        "spanType": "TEXT NOT NULL",
        "isEvent": "INTEGER NOT NULL",
        "startedAt": "TEXT NOT NULL",
        **{
            name: "TEXT"
            for name in (
                "parentSpanId", "entityType", "entityId", "entityName", "parentEntityType",
                "parentEntityId", "parentEntityName", "rootEntityType", "rootEntityId",
                "rootEntityName", "userId", "organizationId", "resourceId", "runId", "sessionId",
                "threadId", "requestId", "environment", "serviceName", "scope", "entityVersionId",
                "parentEntityVersionId", "rootEntityVersionId", "experimentId", "source",
                "metadata", "tags", "attributes", "links", "input", "output", "error", "endedAt",
                "requestContext",
            )
        },
        "createdAt": "TEXT NOT NULL",
        "updatedAt": "TEXT",
    },
}

_TABLE_CONSTRAINTS: dict[str, str] = {
    WORKFLOWS: "UNIQUE (workflow_name, run_id)",
    SPANS: "UNIQUE (spanId, traceId)",
}

# Mastra's own indexes first (same names, so neither side creates a twin), then one
# per list query Stowage runs, each ending in the tie-breaker column of its ORDER BY.
_INDEXES: tuple[str, ...] = (
    f'CREATE INDEX IF NOT EXISTS idx_messages_thread_created_at ON {MESSAGES} '
    '(thread_id, "createdAt")',
    f'CREATE INDEX IF NOT EXISTS idx_messages_thread_resource_created_at ON {MESSAGES} '
    '(thread_id, "resourceId", "createdAt")',
    f'CREATE UNIQUE INDEX IF NOT EXISTS "mastra_ai_spans_spanid_traceid_idx" ON "{SPANS}" '
    '("spanId", "traceId")',
    f'CREATE INDEX IF NOT EXISTS "mastra_ai_spans_roots_started_at_idx" ON "{SPANS}" '
    '("startedAt" DESC) WHERE "parentSpanId" IS NULL',
    f'CREATE INDEX IF NOT EXISTS "mastra_ai_spans_trace_started_at_idx" ON "{SPANS}" '
    '("traceId", "startedAt")',
    # list_messages: a thread's messages by (createdAt, id).
    f'CREATE INDEX IF NOT EXISTS stowage_messages_thread_created_id ON {MESSAGES} '
    '(thread_id, "createdAt", id)',
    # list_threads: by resource (or all), on createdAt or updatedAt, ties by id.
    f'CREATE INDEX IF NOT EXISTS stowage_threads_resource_created ON {THREADS} '
    '("resourceId", "createdAt", id)',
    f'CREATE INDEX IF NOT EXISTS stowage_threads_resource_updated ON {THREADS} '
    '("resourceId", "updatedAt", id)',
    f'CREATE INDEX IF NOT EXISTS stowage_threads_created ON {THREADS} ("createdAt", id)',
    f'CREATE INDEX IF NOT EXISTS stowage_threads_updated ON {THREADS} ("updatedAt", id)',
    # list_runs / get_run: newest first, by workflow, by resource, by run id.
    f'CREATE INDEX IF NOT EXISTS stowage_runs_created ON {WORKFLOWS} ("createdAt", run_id)',
    f'CREATE INDEX IF NOT EXISTS stowage_runs_workflow_created ON {WORKFLOWS} '
    '(workflow_name, "createdAt", run_id)',
    f'CREATE INDEX IF NOT EXISTS stowage_runs_resource_created ON {WORKFLOWS} '
    '("resourceId", "createdAt", run_id)',
    f'CREATE INDEX IF NOT EXISTS stowage_runs_run_id ON {WORKFLOWS} (run_id, "createdAt")',
    # list_traces: root spans newest first, by entity, resource or thread.
    f'CREATE INDEX IF NOT EXISTS stowage_spans_roots_entity ON "{SPANS}" '
    '("entityType", "entityId", "startedAt", "traceId") WHERE "parentSpanId" IS NULL',
    f'CREATE INDEX IF NOT EXISTS stowage_spans_roots_resource ON "{SPANS}" '
    '("resourceId", "startedAt", "traceId") WHERE "parentSpanId" IS NULL',
    f'CREATE INDEX IF NOT EXISTS stowage_spans_roots_thread ON "{SPANS}" '
    '("threadId", "startedAt", "traceId") WHERE "parentSpanId" IS NULL',
    # list_scores: newest first, by each filter Mastra's server exposes.
    f'CREATE INDEX IF NOT EXISTS stowage_scores_run ON {SCORES} ("runId", "createdAt", id)',
    f'CREATE INDEX IF NOT EXISTS stowage_scores_scorer ON {SCORES} ("scorerId", "createdAt", id)',
    f'CREATE INDEX IF NOT EXISTS stowage_scores_entity ON {SCORES} '
    '("entityType", "entityId", "createdAt", id)',
    f'CREATE INDEX IF NOT EXISTS stowage_scores_trace ON {SCORES} '
    '("traceId", "spanId", "createdAt", id)',
    f'CREATE INDEX IF NOT EXISTS stowage_scores_created ON {SCORES} ("createdAt", id)',
)


def _create_tables(conn: sqlite3.Connection) -> None:
    for table, columns in _TABLES.items():
        parts = [f'"{name}" {kind}' for name, kind in columns.items()]
        if table in _TABLE_CONSTRAINTS:
            parts.append(_TABLE_CONSTRAINTS[table])
        body = ",\n  ".join(parts)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (\n  {body}\n)")


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    # A table an older Mastra created may lack later columns (messages.resourceId,
    # the span columns of the 2025 schema); add them nullable, as libsql's alterTable does.
    for table, columns in _TABLES.items():
        existing = {row[1].lower() for row in conn.execute(f'PRAGMA table_info("{table}")')}
        for name, kind in columns.items():
            if name.lower() in existing:
                continue
            column_type = kind.split()[0]
            default = ""
            if "NOT NULL" in kind:
                default = " DEFAULT 0" if column_type in ("INTEGER", "REAL") else " DEFAULT ''"
                column_type += " NOT NULL"
            conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {column_type}{default}')
            log.info("sqlite: added column %s.%s", table, name)


def _create_indexes(conn: sqlite3.Connection) -> None:
    for statement in _INDEXES:
        conn.execute(statement)


def _create_retention_tables(conn: sqlite3.Connection) -> None:
    # Blob prefixes of deleted threads not yet cleaned (storage.sqlite.retention).
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {PENDING_BLOB_DELETES} ("
        'prefix TEXT NOT NULL PRIMARY KEY, "createdAt" TEXT NOT NULL)'
    )
    # prune: the oldest spans first (threads, runs and scores have their time index).
    conn.execute(
        f'CREATE INDEX IF NOT EXISTS stowage_spans_started ON "{SPANS}" ("startedAt")'
    )


def _create_vector_tables(conn: sqlite3.Connection) -> None:
    # Plain tables, not a vec0 virtual table: the triggers below then work for every
    # writer of the file, Mastra's libsql included, which has no sqlite-vec loaded.
    # Search is exact over the resource's rows (sqlite-vec's vec0 is brute force too).
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {VECTORS} ("
        "message_id TEXT NOT NULL PRIMARY KEY, thread_id TEXT NOT NULL, "
        'resource_id TEXT NOT NULL, "createdAt" TEXT NOT NULL, embedder TEXT NOT NULL, '
        "vector BLOB NOT NULL)"  # unit-length float32, little endian (sqlite-vec's format)
    )
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {VECTORS}_resource_thread "
        f"ON {VECTORS} (resource_id, thread_id)"
    )
    conn.execute(f"CREATE INDEX IF NOT EXISTS {VECTORS}_thread ON {VECTORS} (thread_id)")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {VECTOR_INDEX} ("
        "id INTEGER PRIMARY KEY CHECK (id = 1), embedder TEXT NOT NULL, "
        'dimensions INTEGER NOT NULL, "createdAt" TEXT NOT NULL)'
    )
    # Cascades in the message write's own transaction, whoever writes: a deleted
    # message, or one whose content, thread, resource or time changed, loses its vector.
    conn.execute(
        f"CREATE TRIGGER IF NOT EXISTS {VECTORS}_on_delete AFTER DELETE ON {MESSAGES} "
        f"BEGIN DELETE FROM {VECTORS} WHERE message_id = OLD.id; END"
    )
    conn.execute(
        f"CREATE TRIGGER IF NOT EXISTS {VECTORS}_on_change AFTER UPDATE ON {MESSAGES} "
        "WHEN OLD.content IS NOT NEW.content OR OLD.thread_id IS NOT NEW.thread_id "
        'OR OLD."resourceId" IS NOT NEW."resourceId" OR OLD."createdAt" IS NOT NEW."createdAt" '
        "OR OLD.id IS NOT NEW.id "
        f"BEGIN DELETE FROM {VECTORS} WHERE message_id = OLD.id; END"
    )


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply`` runs inside the transaction that records ``version``."""

    version: int
    name: str
    apply: Callable[[sqlite3.Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "mastra core tables", _create_tables),
    Migration(2, "columns missing from tables an older Mastra created", _add_missing_columns),
    Migration(3, "indexes for every list query", _create_indexes),
    Migration(4, "message vectors for semantic recall, kept in step by triggers",
              _create_vector_tables),
    Migration(5, "retention: pending blob deletions, spans by age", _create_retention_tables),
)


def migrate(db: SQLiteDatabase) -> list[int]:
    """Apply the migrations this file lacks, in order. Returns the versions applied."""
    applied: list[int] = []
    with db.unmigrated_write("migrate") as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS stowage_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM stowage_migrations")}
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            migration.apply(conn)
            conn.execute(
                "INSERT INTO stowage_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, to_iso(utcnow())),
            )
            applied.append(migration.version)
    if applied:
        log.info("sqlite: applied migrations %s to %s", applied, db.path)
    return applied


def column_is_required(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether ``table.column`` is ``NOT NULL`` in this file (it depends on who created it)."""
    for row in conn.execute(f'PRAGMA table_info("{table}")'):
        if row[1] == column:
            return bool(row[3])
    return False

