"""Scores in Mastra's ``mastra_scorers``.

Mastra's columns ``scorer``, ``input``, ``output`` and ``source`` are NOT NULL: a
score without them is stored as ``{"id": scorer_id}``, JSON ``null`` and ``""``,
which read back as the ``None`` they stand for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.errors import ValidationError
from storage.postgres import _codec as c
from storage.postgres._base import PostgresDomain
from storage.postgres.driver import Json, Row
from storage.postgres.retention import ScorePruning
from storage.records import Page, Score, page_of
from storage.validation import check_id, check_ids, check_paging, check_score

_TEXT = {
    "id": "id",
    "scorer_id": "scorerId",
    "run_id": "runId",
    "reason": "reason",
    "entity_type": "entityType",
    "entity_id": "entityId",
    "trace_id": "traceId",
    "span_id": "spanId",
    "source": "source",
    "resource_id": "resourceId",
    "thread_id": "threadId",
}
SCORE_COLS = ", ".join(
    [f'"{col}" AS {field}' for field, col in _TEXT.items()]
    + ["score", "input::text AS input", "output::text AS output", "metadata::text AS metadata"]
    + [c.ms("createdAt", "created_at")]
)


def _score(row: Row) -> Score:
    return Score(
        id=row["id"],
        scorer_id=row["scorer_id"],
        score=float(row["score"]),
        run_id=row["run_id"],
        created_at=c.from_ms(row["created_at"]),
        reason=row["reason"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        input=c.loads(row["input"]),
        output=c.loads(row["output"]),
        metadata=c.loads_dict(row["metadata"]),
        source=row["source"] or None,
        resource_id=row["resource_id"],
        thread_id=row["thread_id"],
    )


class PostgresScoreStore(ScorePruning, PostgresDomain):
    """The ``scores`` domain on PostgreSQL."""

    def save_score(self, score: Score) -> Score:
        """Create or replace a score by id (one upsert)."""
        if not isinstance(score, Score):
            raise ValidationError(f"expected a Score, got {type(score).__name__}")
        check_score(score)
        params: dict[str, Any] = {field: getattr(score, field) for field in _TEXT}
        params["source"] = score.source or ""
        params.update(
            score=float(score.score),
            scorer=Json({"id": score.scorer_id}),
            input=Json(score.input),
            output=Json(score.output),
            metadata=Json(dict(score.metadata)),
            created=c.iso(score.created_at),
        )
        columns = [f'"{col}"' for col in _TEXT.values()]
        values = [f":{field}" for field in _TEXT]
        self._ready()
        self._driver.execute(
            f"INSERT INTO mastra_scorers ({', '.join(columns)}, score, scorer, input, output, "
            'metadata, "createdAt", "createdAtZ", "updatedAt", "updatedAtZ") '
            f"VALUES ({', '.join(values)}, :score, CAST(:scorer AS jsonb), "
            "CAST(:input AS jsonb), CAST(:output AS jsonb), CAST(:metadata AS jsonb), "
            f"{c.wall('created')}, {c.tstz('created')}, {c.wall('created')}, {c.tstz('created')}) "
            "ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{col} = EXCLUDED.{col}" for col in columns[1:])
            + ", score = EXCLUDED.score, scorer = EXCLUDED.scorer, input = EXCLUDED.input, "
            "output = EXCLUDED.output, metadata = EXCLUDED.metadata, "
            '"createdAt" = EXCLUDED."createdAt", "createdAtZ" = EXCLUDED."createdAtZ", '
            '"updatedAt" = now() AT TIME ZONE \'UTC\', "updatedAtZ" = now()',
            params,
        )
        return score

    def delete_scores(self, score_ids: Sequence[str]) -> None:
        """Delete scores in one statement; unknown ids are ignored."""
        ids = list(dict.fromkeys(check_ids(score_ids, "score id")))
        if not ids:
            return
        self._ready()
        self._driver.execute(
            f"DELETE FROM mastra_scorers WHERE id IN {c.in_ids('ids')}", {"ids": c.id_list(ids)}
        )

    def get_score(self, score_id: str) -> Score | None:
        """The score, or ``None``."""
        check_id(score_id, "score id")
        self._ready()
        row = self._driver.fetch_one(
            f"SELECT {SCORE_COLS} FROM mastra_scorers WHERE id = :id", {"id": score_id}
        )
        return _score(row) if row else None

    def list_scores(
        self,
        *,
        scorer_id: str | None = None,
        run_id: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        resource_id: str | None = None,
        page: int = 0,
        per_page: int | None = 50,
    ) -> Page[Score]:
        """Scores matching every given filter, newest first (ties: id desc), and the total."""
        check_paging(page, per_page)
        where: list[str] = []
        params: dict[str, Any] = {}
        for field, value in (
            ("scorer_id", scorer_id),
            ("run_id", run_id),
            ("entity_type", entity_type),
            ("entity_id", entity_id),
            ("trace_id", trace_id),
            ("span_id", span_id),
            ("resource_id", resource_id),
        ):
            if value is not None:
                where.append(f'"{_TEXT[field]}" = :{field}')
                params[field] = check_id(value, field.replace("_", " "))
        params["limit"] = per_page
        params["offset"] = page * per_page if per_page is not None else 0
        self._ready()
        rows = self._driver.fetch(
            f'WITH f AS (SELECT {SCORE_COLS}, "createdAt" AS sort_key FROM mastra_scorers'
            f"{' WHERE ' + ' AND '.join(where) if where else ''}), "
            "p AS (SELECT * FROM f ORDER BY sort_key DESC, id DESC LIMIT :limit OFFSET :offset) "
            "SELECT n.total, p.* FROM (SELECT count(*) AS total FROM f) AS n "
            "LEFT JOIN p ON true ORDER BY p.sort_key DESC, p.id DESC",
            params,
        )
        total = int(rows[0]["total"]) if rows else 0
        items = [_score(r) for r in rows if r.get("id") is not None]
        return page_of(items, total=total, page=page, per_page=per_page)
