"""``InMemoryScoreStore``: scores keyed by id."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import partial

from storage import validation as v
from storage.errors import ValidationError
from storage.memory._common import check_time, clone
from storage.memory.retention import ScorePruning
from storage.paging import has_fields, newest_page
from storage.records import Page, Score


class InMemoryScoreStore(ScorePruning):
    """Scores in process memory (see ``ScoreStore``)."""

    def __init__(self, *, lock: threading.RLock | None = None) -> None:
        self._lock = lock or threading.RLock()
        self._scores: dict[str, Score] = {}

    def save_score(self, score: Score) -> Score:
        """Create or replace a score by id."""
        if not isinstance(score, Score):
            raise ValidationError(f"expected a Score, got {type(score).__name__}")
        v.check_score(score)
        check_time(score.created_at, "created_at")
        stored = clone(score)
        with self._lock:
            self._scores[score.id] = stored
            return clone(stored)

    def get_score(self, score_id: str) -> Score | None:
        """The score, or ``None``."""
        v.check_id(score_id, "score id")
        with self._lock:
            return clone(self._scores.get(score_id))

    def delete_scores(self, score_ids: Sequence[str]) -> None:
        """Delete scores; unknown ids are ignored."""
        ids = v.check_ids(score_ids, "score id")
        with self._lock:
            for score_id in ids:
                self._scores.pop(score_id, None)

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
        wanted = {
            "scorer_id": scorer_id,
            "run_id": run_id,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "trace_id": trace_id,
            "span_id": span_id,
            "resource_id": resource_id,
        }
        v.check_filters(wanted)
        v.check_paging(page, per_page)
        with self._lock:
            matches = [
                s for s in self._scores.values() if has_fields(wanted, partial(getattr, s))
            ]
            return newest_page(
                matches, key=lambda s: (s.created_at, s.id), page=page, per_page=per_page,
                record=clone,
            )
