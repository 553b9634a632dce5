"""Scorers: judge finished runs in background jobs and write ``scores``.

    >>> def brevity(run: ScorerRun) -> tuple[float, str]:
    ...     return (1.0 if len(run.output) < 200 else 0.0), "short answers score 1"
    >>> Agent(..., scorers=[FunctionScorer("brevity", brevity, sampling_rate=0.1)])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from storage.records import Score

if TYPE_CHECKING:
    from agents.agent import Agent


@dataclass(frozen=True)
class ScorerRun:
    """What a scorer judges: one run's input and output text and its ids."""

    run_id: str
    agent_id: str
    input: str
    output: str
    trace_id: str | None = None
    span_id: str | None = None
    thread_id: str | None = None
    resource_id: str | None = None


@runtime_checkable
class Scorer(Protocol):
    """A scorer: ``id``, ``sampling_rate`` (0..1, the share of runs scored) and ``score``."""

    id: str
    sampling_rate: float

    def score(self, run: ScorerRun) -> tuple[float, str | None]:
        """Return ``(score, reason)``."""
        ...


class FunctionScorer:
    """A scorer from a function ``fn(run) -> (score, reason)``.

    Args:
        id: the scorer's id.
        fn: the scoring function.
        sampling_rate: the share of runs scored, 0..1.
    """

    def __init__(self, id: str, fn: Callable[[ScorerRun], tuple[float, str | None]],
                 *, sampling_rate: float = 1.0) -> None:
        if not 0.0 <= sampling_rate <= 1.0:
            raise ValueError("sampling_rate must be between 0 and 1")
        self.id = id
        self.fn = fn
        self.sampling_rate = sampling_rate

    def score(self, run: ScorerRun) -> tuple[float, str | None]:
        """Call the function."""
        return self.fn(run)


def run_scorer(agent: Agent, payload: Mapping[str, Any]) -> Score | None:
    """Run the scorer a job payload names and save its score.

    The score id is ``<scorer>:<run>``, so a retried job replaces rather than duplicates.

    Raises:
        ValueError: the agent has no such scorer, or it returned a non-finite number.
    """
    scorer_id = str(payload.get("scorer"))
    scorer = next((s for s in agent.scorers if s.id == scorer_id), None)
    if scorer is None:
        raise ValueError(f"agent {agent.id!r} has no scorer {scorer_id!r}")
    store = getattr(agent.recording_store, "scores", None)
    if store is None:
        return None
    run = ScorerRun(
        run_id=str(payload["run"]),
        agent_id=agent.id,
        input=str(payload.get("input") or ""),
        output=str(payload.get("output") or ""),
        trace_id=_opt(payload.get("trace")),
        span_id=_opt(payload.get("span")),
        thread_id=_opt(payload.get("thread")),
        resource_id=_opt(payload.get("resource")),
    )
    value, reason = scorer.score(run)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"scorer {scorer_id!r} returned {value}")
    score = Score(
        id=f"{scorer_id}:{run.run_id}",
        scorer_id=scorer_id,
        score=value,
        run_id=run.run_id,
        reason=reason,
        entity_type="agent",
        entity_id=agent.id,
        trace_id=run.trace_id,
        span_id=run.span_id,
        input={"text": run.input},
        output={"text": run.output},
        source="LIVE",
        resource_id=run.resource_id,
        thread_id=run.thread_id,
    )
    saved: Score = store.save_score(score)
    return saved


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
