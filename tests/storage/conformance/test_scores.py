"""Scores: save, get, list by each filter, newest first, paging."""

from __future__ import annotations

from typing import Any

import pytest

from tests.storage.conformance.helpers import domain, ids, make_score, uid


@pytest.fixture
def scores(store: Any) -> Any:
    return domain(store, "scores")


def test_save_and_get_every_field(scores: Any) -> None:
    score = make_score(
        created=3,
        score=0.875,
        reason="mostly relevant ✓",
        entity_type="agent",
        entity_id=uid("agent"),
        trace_id=uid("trace"),
        span_id=uid("span"),
        input={"question": "q"},
        output={"answer": "a"},
        metadata={"model": "m", "n": [1, 2]},
        source="LIVE",
        resource_id=uid("res"),
        thread_id=uid("thread"),
    )
    assert scores.save_score(score) == score
    assert scores.get_score(score.id) == score


def test_get_missing_score_is_none(scores: Any) -> None:
    assert scores.get_score(uid("score")) is None


def test_save_replaces_by_id(scores: Any) -> None:
    score = scores.save_score(make_score(score=0.1))
    replacement = make_score(id=score.id, scorer_id=score.scorer_id, run_id=score.run_id, score=1)
    scores.save_score(replacement)
    assert scores.get_score(score.id).score == 1
    assert scores.list_scores(scorer_id=score.scorer_id).total == 1


@pytest.mark.parametrize("key", ["scorer_id", "run_id", "entity_id", "trace_id", "span_id"])
def test_list_by_each_filter(scores: Any, key: str) -> None:
    value = uid(key)
    wanted = [scores.save_score(make_score(created=i, **{key: value})) for i in range(3)]
    scores.save_score(make_score(created=9, **{key: uid(key)}))
    page = scores.list_scores(**{key: value})
    assert ids(page) == ids(wanted[::-1])
    assert page.total == 3


def test_list_by_entity_type_and_id(scores: Any) -> None:
    entity = uid("entity")
    agent = scores.save_score(make_score(created=1, entity_type="agent", entity_id=entity))
    scores.save_score(make_score(created=2, entity_type="workflow", entity_id=entity))
    assert ids(scores.list_scores(entity_type="agent", entity_id=entity)) == [agent.id]
    assert scores.list_scores(entity_id=entity).total == 2


def test_filters_combine(scores: Any) -> None:
    scorer, run = uid("scorer"), uid("run")
    hit = scores.save_score(make_score(created=1, scorer_id=scorer, run_id=run))
    scores.save_score(make_score(created=2, scorer_id=scorer))
    scores.save_score(make_score(created=3, run_id=run))
    assert ids(scores.list_scores(scorer_id=scorer, run_id=run)) == [hit.id]


def test_newest_first_ties_by_id_desc_and_paged(scores: Any) -> None:
    scorer = uid("scorer")
    tag = uid("s")
    saved = [scores.save_score(make_score(id=f"{tag}-{i}", created=i // 2, scorer_id=scorer))
             for i in range(6)]
    expected = sorted(saved, key=lambda s: (s.created_at, s.id), reverse=True)
    pages = [scores.list_scores(scorer_id=scorer, page=p, per_page=4) for p in range(2)]
    assert [s.id for p in pages for s in p.items] == ids(expected)
    assert [p.has_more for p in pages] == [True, False]
    assert all(p.total == 6 for p in pages)


def test_one_resources_scores_page_and_count_alone(scores: Any) -> None:
    # The API filters a JWT tenant's scores here: a page of another tenant's scores
    # must not hide hers, nor its total count them.
    scorer, mine, theirs = uid("scorer"), uid("res"), uid("res")
    own = scores.save_score(make_score(created=1, scorer_id=scorer, resource_id=mine))
    for i in range(3):
        scores.save_score(make_score(created=5 + i, scorer_id=scorer, resource_id=theirs))
    first = scores.list_scores(scorer_id=scorer, resource_id=mine, page=0, per_page=1)
    assert (ids(first), first.total, first.has_more) == ([own.id], 1, False)
    assert scores.list_scores(scorer_id=scorer, resource_id=theirs).total == 3
    assert scores.list_scores(scorer_id=scorer).total == 4
