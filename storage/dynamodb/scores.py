"""``DynamoDBScoreStore``: scores keyed ``SCORE#<id>``, listed through per-filter indexes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from storage import validation as v
from storage.dynamodb import codec
from storage.dynamodb._base import DynamoDBDomain, check_time, index_items
from storage.dynamodb.codec import Item, get_s, get_time, ms, s, sort_key
from storage.dynamodb.offload import Offloader
from storage.dynamodb.retention import RetentionAware, ScorePruning
from storage.dynamodb.schema import ALL, CRT
from storage.errors import ValidationError
from storage.paging import has_fields, newest_page
from storage.records import Page, Score

log = logging.getLogger(__name__)

_BIG = ("input", "output", "metadata")
_TEXT = (
    "reason",
    "entity_type",
    "entity_id",
    "trace_id",
    "span_id",
    "source",
    "resource_id",
    "thread_id",
)


def score_key(score_id: str) -> Item:
    """A score's key."""
    return {"pk": s(f"SCORE#{score_id}"), "sk": s("SCORE")}


class DynamoDBScoreStore(ScorePruning, RetentionAware, DynamoDBDomain):
    """Scores on DynamoDB (see :class:`~storage.protocols.ScoreStore`)."""

    def save_score(self, score: Score) -> Score:
        """Create or replace a score by id (one PutItem)."""
        if not isinstance(score, Score):
            raise ValidationError(f"expected a Score, got {type(score).__name__}")
        v.check_score(score)
        check_time(score.created_at, "created_at")
        item = self._item(score)
        uploads = self.offloader.fit(item, _BIG, (score.id,))
        try:
            out = self.dynamo.call(
                "PutItem", TableName=self.table, Item=item, ReturnValues="ALL_OLD"
            )
        except Exception:
            self.offloader.discard(uploads)
            raise
        stale = set(Offloader.refs(out.get("Attributes", {}))) - set(uploads)
        self.offloader.discard(sorted(stale))
        return score

    def delete_scores(self, score_ids: Sequence[str]) -> None:
        """Delete scores (a DeleteItem each) and their offloaded objects; unknown ids
        are ignored."""
        for score_id in dict.fromkeys(v.check_ids(score_ids, "score id")):
            out = self.dynamo.call(
                "DeleteItem", TableName=self.table, Key=score_key(score_id),
                ReturnValues="ALL_OLD",
            )
            self.offloader.discard(Offloader.refs(out.get("Attributes", {})))

    def get_score(self, score_id: str) -> Score | None:
        """The score, or ``None``."""
        v.check_id(score_id, "score id")
        item = self.dynamo.get(self.table, score_key(score_id))
        return self._record(item) if item else None

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
        """Scores matching every filter, newest first, from the most selective index."""
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
        if run_id is not None:
            items = index_items(self, "by-run", ("run", run_id), CRT)
        elif entity_type is not None and entity_id is not None:
            items = index_items(self, "by-entity", ("ent", f"{entity_type}#{entity_id}"), CRT)
        elif trace_id is not None:
            items = index_items(self, "by-trace", ("trace", trace_id), CRT)
        elif scorer_id is not None:
            items = index_items(self, "by-scorer", ("scorer", scorer_id), CRT)
        else:
            items = index_items(self, "all-scores", (ALL, "SCORE"), CRT)
        return newest_page(
            [i for i in items if has_fields(wanted, partial(get_s, i))],
            key=lambda i: (get_time(i, "created_at"), get_s(i, "id") or ""),
            page=page,
            per_page=per_page,
            record=self._record,
        )

    def _item(self, score: Score) -> Item:
        item: Item = {
            **score_key(score.id),
            "id": s(score.id),
            "scorer_id": s(score.scorer_id),
            "run_id": s(score.run_id),
            "score": codec.to_av(score.score),
            "created_at": ms(score.created_at),
            "scorer": s(score.scorer_id),
            "run": s(score.run_id),
            ALL: s("SCORE"),
            CRT: s(sort_key(score.created_at, score.id)),
        }
        for name in _BIG:
            item[name] = s(codec.dumps(getattr(score, name)))
        for name in _TEXT:
            value = getattr(score, name)
            if value is not None:
                item[name] = s(value)
        if score.entity_type is not None and score.entity_id is not None:
            item["ent"] = s(f"{score.entity_type}#{score.entity_id}")
        if score.trace_id is not None:
            item["trace"] = s(score.trace_id)
        item.update(self.expiry("scores", score.created_at))
        return item

    def _record(self, item: Item) -> Score:
        self.offloader.resolve(item, _BIG)
        created = get_time(item, "created_at")
        assert created is not None
        values: dict[str, Any] = {n: codec.loads(get_s(item, n) or "null") for n in _BIG}
        return Score(
            id=get_s(item, "id") or "",
            scorer_id=get_s(item, "scorer_id") or "",
            score=codec.from_av(item["score"]),
            run_id=get_s(item, "run_id") or "",
            created_at=created,
            input=values["input"],
            output=values["output"],
            metadata=values["metadata"] or {},
            **{n: get_s(item, n) for n in _TEXT},
        )
