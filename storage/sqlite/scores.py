"""``SQLiteScoreStore``: scorer results in ``mastra_scorers``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage import validation as v
from storage.errors import ValidationError
from storage.records import Page, Score, page_of
from storage.sqlite import _rows
from storage.sqlite._codec import dumps, iso
from storage.sqlite._sql import chunks, limit_clause, marks
from storage.sqlite.db import SQLiteDatabase
from storage.sqlite.retention import ScorePruning
from storage.sqlite.schema import SCORES
from storage.timeutil import utcnow

_FILTERS = {
    "scorer_id": "scorerId",
    "run_id": "runId",
    "entity_type": "entityType",
    "entity_id": "entityId",
    "trace_id": "traceId",
    "span_id": "spanId",
    "resource_id": "resourceId",
}


class SQLiteScoreStore(ScorePruning):
    """Scores, newest first.

    Args:
        db: the database (shared with the other SQLite domains of the same file).
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db

    def save_score(self, score: Score) -> Score:
        """Create or replace a score by id."""
        if not isinstance(score, Score):
            raise ValidationError(f"expected a Score, got {type(score).__name__}")
        v.check_score(score)
        columns = [*_rows.SCORE_COLUMNS.values(), "scorer", "updatedAt"]
        # Mastra's rows carry the scorer as an object; ours names it by id.
        params = [*_rows.score_params(score), dumps({"id": score.scorer_id}), iso(utcnow())]
        names = ", ".join(f'"{c}"' for c in columns)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != "id")
        with self._db.write("save_score") as conn:
            conn.execute(
                f"INSERT INTO {SCORES} ({names}) VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT(id) DO UPDATE SET {updates}",
                params,
            )
        return score

    def delete_scores(self, score_ids: Sequence[str]) -> None:
        """Delete scores; unknown ids are ignored."""
        ids = list(dict.fromkeys(v.check_ids(score_ids, "score id")))
        if not ids:
            return
        with self._db.write("delete_scores") as conn:
            for batch in chunks(ids):
                conn.execute(f"DELETE FROM {SCORES} WHERE id IN ({marks(len(batch))})", batch)

    def get_score(self, score_id: str) -> Score | None:
        """The score, or ``None``."""
        v.check_id(score_id, "score id")
        with self._db.read("get_score") as conn:
            row = conn.execute(
                f"SELECT {_rows.SCORE_SELECT} FROM {SCORES} WHERE id = ?", (score_id,)
            ).fetchone()
        return _rows.score_from_row(row) if row is not None else None

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
        """Scores matching every given filter, newest ``created_at`` first (ties: id desc)."""
        v.check_paging(page, per_page)
        given = {
            "scorer_id": scorer_id,
            "run_id": run_id,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "trace_id": trace_id,
            "span_id": span_id,
            "resource_id": resource_id,
        }
        where: list[str] = []
        args: list[Any] = []
        for name, value in given.items():
            if value is not None:
                where.append(f'"{_FILTERS[name]}" = ?')
                args.append(v.check_id(value, name.replace("_", " ")))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        limit, limit_args = limit_clause(page, per_page)
        with self._db.read("list_scores") as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM {SCORES}{clause}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_rows.SCORE_SELECT} FROM {SCORES}{clause} "
                f'ORDER BY "createdAt" DESC, id DESC{limit}',
                [*args, *limit_args],
            ).fetchall()
        return page_of(
            [_rows.score_from_row(r) for r in rows], total=total, page=page, per_page=per_page
        )
