"""The ``scores`` domain: evaluation scores.

Part of :mod:`storage.protocols` (the contract; import the names from there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from storage.records import Page, Score


@runtime_checkable
class ScoreStore(Protocol):
    """Scores written by scorers."""

    def save_score(self, score: Score) -> Score:
        """Create or replace a score by id."""
        ...

    def get_score(self, score_id: str) -> Score | None:
        """The score, or ``None``."""
        ...

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
        """Scores matching every given filter, newest ``created_at`` first (ties: id desc).

        ``resource_id`` keeps one tenant's scores: a page and its total count only those
        (an API caller under JWT sees its own scores, paged truthfully).
        """
        ...

    def delete_scores(self, score_ids: Sequence[str]) -> None:
        """Delete scores (and anything offloaded for them); unknown ids are ignored."""
        ...
