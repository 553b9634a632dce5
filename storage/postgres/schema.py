"""Mastra's PostgreSQL schema, as ``@mastra/pg`` creates it, and the migrations runner.

The tables, quoted camelCase columns, types, constraint names and default indexes
below are what ``@mastra/pg`` 1.27 creates (checked against a database it
initialised: ``tests/interop/test_mastra_pg.py``), so a Mastra app and
Stowage share one database. Each timestamp exists twice, as Mastra keeps it: a
``timestamp`` column holding UTC wall time and a ``timestamptz`` ``...Z`` mirror.

Migrations are applied in order by :func:`migrate` under a transaction-scoped
advisory lock, so two processes setting up at once apply each migration once, and
recorded in ``stowage_migrations``. Every statement is ``IF NOT EXISTS`` (or
``OR REPLACE``), so a database Mastra created first is adopted as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from storage.errors import StorageError
from storage.postgres.driver import Driver, Session
from storage.postgres.retention import MIGRATION_STATEMENTS as RETENTION_STATEMENTS

log = logging.getLogger(__name__)

# Any 64-bit constant unique to this schema; it only has to match between processes.
ADVISORY_LOCK_KEY = 0x53544F57_41474531  # "STOWAGE1"
MIGRATIONS_TABLE = "stowage_migrations"


@dataclass(frozen=True)
class Migration:
    """One schema change: a version, a name and the statements it runs, in order."""

    version: int
    name: str
    statements: tuple[str, ...]


_TRIGGER_FUNCTION = """CREATE OR REPLACE FUNCTION trigger_set_timestamps()
RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW."createdAt" = NOW();
        NEW."updatedAt" = NOW();
        NEW."createdAtZ" = NOW();
        NEW."updatedAtZ" = NOW();
    ELSIF TG_OP = 'UPDATE' THEN
        NEW."updatedAt" = NOW();
        NEW."updatedAtZ" = NOW();
        NEW."createdAt" = OLD."createdAt";
        NEW."createdAtZ" = OLD."createdAtZ";
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql"""

_MASTRA_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS mastra_threads (
    id text NOT NULL PRIMARY KEY,
    "resourceId" text NOT NULL,
    title text NOT NULL,
    metadata jsonb,
    "createdAt" timestamp NOT NULL,
    "updatedAt" timestamp NOT NULL,
    "createdAtZ" timestamptz DEFAULT now(),
    "updatedAtZ" timestamptz DEFAULT now()
)""",
    """CREATE TABLE IF NOT EXISTS mastra_messages (
    id text NOT NULL PRIMARY KEY,
    thread_id text NOT NULL,
    content text NOT NULL,
    role text NOT NULL,
    type text NOT NULL,
    "createdAt" timestamp NOT NULL,
    "resourceId" text,
    "createdAtZ" timestamptz DEFAULT now()
)""",
    """CREATE TABLE IF NOT EXISTS mastra_resources (
    id text NOT NULL PRIMARY KEY,
    "workingMemory" text,
    metadata jsonb,
    "createdAt" timestamp NOT NULL,
    "updatedAt" timestamp NOT NULL,
    "createdAtZ" timestamptz DEFAULT now(),
    "updatedAtZ" timestamptz DEFAULT now()
)""",
    """CREATE TABLE IF NOT EXISTS mastra_workflow_snapshot (
    workflow_name text NOT NULL,
    run_id text NOT NULL,
    "resourceId" text,
    snapshot jsonb NOT NULL,
    "createdAt" timestamp NOT NULL,
    "updatedAt" timestamp NOT NULL,
    "createdAtZ" timestamptz DEFAULT now(),
    "updatedAtZ" timestamptz DEFAULT now(),
    CONSTRAINT public_mastra_workflow_snapshot_workflow_name_run_id_key
        UNIQUE (workflow_name, run_id)
)""",
    """CREATE TABLE IF NOT EXISTS mastra_scorers (
    id text NOT NULL PRIMARY KEY,
    "scorerId" text NOT NULL,
    "traceId" text,
    "spanId" text,
    "runId" text NOT NULL,
    scorer jsonb NOT NULL,
    "preprocessStepResult" jsonb,
    "extractStepResult" jsonb,
    "analyzeStepResult" jsonb,
    score double precision NOT NULL,
    reason text,
    metadata jsonb,
    "preprocessPrompt" text,
    "extractPrompt" text,
    "generateScorePrompt" text,
    "generateReasonPrompt" text,
    "analyzePrompt" text,
    "reasonPrompt" text,
    input jsonb NOT NULL,
    output jsonb NOT NULL,
    "additionalContext" jsonb,
    "requestContext" jsonb,
    "entityType" text,
    entity jsonb,
    "entityId" text,
    source text NOT NULL,
    "resourceId" text,
    "threadId" text,
    "organizationId" text,
    "projectId" text,
    "batchId" text,
    "datasetId" text,
    "datasetItemId" text,
    "createdAt" timestamp NOT NULL,
    "updatedAt" timestamp NOT NULL,
    "createdAtZ" timestamptz DEFAULT now(),
    "updatedAtZ" timestamptz DEFAULT now()
)""",
    """CREATE TABLE IF NOT EXISTS mastra_ai_spans (
    "traceId" text NOT NULL,
    "spanId" text NOT NULL,
    name text NOT NULL,
    "spanType" text NOT NULL,
    "isEvent" boolean NOT NULL,
    "startedAt" timestamp NOT NULL,
    "parentSpanId" text,
    "entityType" text,
    "entityId" text,
    "entityName" text,
    "parentEntityType" text,
    "parentEntityId" text,
    "parentEntityName" text,
    "rootEntityType" text,
    "rootEntityId" text,
    "rootEntityName" text,
    "userId" text,
    "organizationId" text,
    "resourceId" text,
    "runId" text,
    "sessionId" text,
    "threadId" text,
    "requestId" text,
    environment text,
    "serviceName" text,
    scope jsonb,
    "entityVersionId" text,
    "parentEntityVersionId" text,
    "rootEntityVersionId" text,
    "experimentId" text,
    source text,
    metadata jsonb,
    tags jsonb,
    attributes jsonb,
    links jsonb,
    input jsonb,
    output jsonb,
    error jsonb,
    "endedAt" timestamp,
    "requestContext" jsonb,
    "createdAt" timestamp NOT NULL,
    "updatedAt" timestamp,
    "startedAtZ" timestamptz DEFAULT now(),
    "endedAtZ" timestamptz DEFAULT now(),
    "createdAtZ" timestamptz DEFAULT now(),
    "updatedAtZ" timestamptz DEFAULT now(),
    CONSTRAINT public_mastra_ai_spans_traceid_spanid_pk PRIMARY KEY ("traceId", "spanId")
)""",
)

_MASTRA_INDEXES: tuple[str, ...] = (
    'CREATE INDEX IF NOT EXISTS mastra_threads_resourceid_createdat_idx '
    'ON mastra_threads ("resourceId", "createdAt" DESC)',
    'CREATE INDEX IF NOT EXISTS mastra_messages_thread_id_createdat_idx '
    'ON mastra_messages (thread_id, "createdAt" DESC)',
    'CREATE INDEX IF NOT EXISTS mastra_workflow_snapshot_name_createdat_idx '
    'ON mastra_workflow_snapshot (workflow_name, "createdAt" DESC)',
    "CREATE INDEX IF NOT EXISTS mastra_workflow_snapshot_name_status_createdat_idx "
    "ON mastra_workflow_snapshot (workflow_name, (snapshot ->> 'status'), \"createdAt\" DESC)",
    "CREATE INDEX IF NOT EXISTS mastra_workflow_snapshot_threadid_idx "
    "ON mastra_workflow_snapshot (COALESCE("
    "(jsonb_path_query_first(snapshot, '$.\"context\".*?(@.\"status\" == \"suspended\")"
    ".\"suspendPayload\".\"__streamState\".\"messageList\".\"memoryInfo\".\"threadId\"'"
    "::jsonpath) #>> '{}'::text[]), "
    "(snapshot #>> '{context,input,messageListState,memoryInfo,threadId}'::text[])))",
    'CREATE INDEX IF NOT EXISTS mastra_scores_trace_id_span_id_created_at_idx '
    'ON mastra_scorers ("traceId", "spanId", "createdAt" DESC)',
    'CREATE INDEX IF NOT EXISTS mastra_ai_spans_traceid_startedat_idx '
    'ON mastra_ai_spans ("traceId", "startedAt" DESC)',
    'CREATE INDEX IF NOT EXISTS mastra_ai_spans_parentspanid_startedat_idx '
    'ON mastra_ai_spans ("parentSpanId", "startedAt" DESC)',
    'CREATE INDEX IF NOT EXISTS mastra_ai_spans_name_idx ON mastra_ai_spans (name)',
    'CREATE INDEX IF NOT EXISTS mastra_ai_spans_spantype_startedat_idx '
    'ON mastra_ai_spans ("spanType", "startedAt" DESC)',
    'CREATE INDEX IF NOT EXISTS mastra_ai_spans_root_spans_idx '
    'ON mastra_ai_spans ("startedAt" DESC) WHERE "parentSpanId" IS NULL',
    'CREATE INDEX IF NOT EXISTS mastra_ai_spans_entitytype_entityid_idx '
    'ON mastra_ai_spans ("entityType", "entityId")',
    'CREATE INDEX IF NOT EXISTS mastra_ai_spans_entitytype_entityname_idx '
    'ON mastra_ai_spans ("entityType", "entityName")',
    'CREATE INDEX IF NOT EXISTS mastra_ai_spans_orgid_userid_idx '
    'ON mastra_ai_spans ("organizationId", "userId")',
    "CREATE INDEX IF NOT EXISTS mastra_ai_spans_metadata_gin_idx "
    "ON mastra_ai_spans USING gin (metadata)",
    "CREATE INDEX IF NOT EXISTS mastra_ai_spans_tags_gin_idx ON mastra_ai_spans USING gin (tags)",
)

MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "mastra tables, timestamps trigger and default indexes (@mastra/pg 1.27)",
        (
            *_MASTRA_TABLES,
            "ALTER TABLE mastra_workflow_snapshot REPLICA IDENTITY USING INDEX "
            "public_mastra_workflow_snapshot_workflow_name_run_id_key",
            _TRIGGER_FUNCTION,
            "CREATE OR REPLACE TRIGGER mastra_ai_spans_timestamps "
            "BEFORE INSERT OR UPDATE ON mastra_ai_spans "
            "FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamps()",
            *_MASTRA_INDEXES,
        ),
    ),
    Migration(
        2,
        "stowage: index for listing a resource's threads by updatedAt (W3)",
        (
            'CREATE INDEX IF NOT EXISTS stowage_threads_resourceid_updatedat_idx '
            'ON mastra_threads ("resourceId", "updatedAt" DESC, id DESC)',
        ),
    ),
    Migration(3, "stowage: retention (pending blob deletions, an age index per domain)",
              RETENTION_STATEMENTS),
]


def migrate(driver: Driver, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations not yet recorded, in one transaction, under an advisory lock.

    Returns:
        The versions applied now (empty when the schema was up to date).
    """
    todo = MIGRATIONS if migrations is None else migrations
    latest = max((m.version for m in todo), default=0)
    # Fast path, one round trip (every cold start pays it): already up to date?
    try:
        row = driver.fetch_one(f"SELECT COALESCE(max(version), 0) AS v FROM {MIGRATIONS_TABLE}")
        if row is not None and int(row["v"]) >= latest:
            return []
    except StorageError:
        pass  # no migrations table yet: take the locked path, which creates it

    def body(tx: Session) -> list[int]:
        # Serialise concurrent setups; released at COMMIT/ROLLBACK.
        tx.fetch("SELECT pg_advisory_xact_lock(:key) AS locked", {"key": ADVISORY_LOCK_KEY})
        tx.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
            "version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {int(r["version"]) for r in tx.fetch(f"SELECT version FROM {MIGRATIONS_TABLE}")}
        applied: list[int] = []
        for migration in sorted(todo, key=lambda m: m.version):
            if migration.version in done:
                continue
            for statement in migration.statements:
                tx.execute(statement)
            tx.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (version, name) VALUES (:version, :name)",
                {"version": migration.version, "name": migration.name},
            )
            applied.append(migration.version)
        return applied

    applied = driver.transaction(body)
    if applied:
        log.info("postgres: applied migrations %s", applied)
    return applied
