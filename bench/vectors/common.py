"""What every part of the vectors bench shares: the fixed records, timings, recall."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import aws

EMBEDDER = "test/gaussian-16"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def environment() -> None:
    """Fake AWS credentials, moto patched in, with the SearchVectors fake."""
    aws.environment(search_vectors=True)


def ms(seconds: float) -> float:
    """Seconds as milliseconds, rounded to the microsecond."""
    return round(seconds * 1000, 3)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """The median and 95th percentile of ``samples`` (seconds), in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"p50_ms": ms(statistics.median(ordered)), "p95_ms": ms(p95)}


def message(message_id: str, thread_id: str, seconds: int) -> Any:
    """A 200-character user message, ``seconds`` after :data:`T0`."""
    from storage.records import Message

    return Message(id=message_id, thread_id=thread_id, role="user",
                   content={"format": 2, "parts": [{"type": "text", "text": "x" * 200}]},
                   created_at=T0 + timedelta(seconds=seconds))


def vector_of(message: Any, vector: Sequence[float], embedder: str = EMBEDDER) -> Any:
    """The :class:`MessageVector` of ``message``."""
    from storage.records import MessageVector

    return MessageVector(message_id=message.id, thread_id=message.thread_id,
                         resource_id=message.resource_id or "", created_at=message.created_at,
                         vector=tuple(vector), embedder=embedder)


def gauss(rng: random.Random, dims: int) -> list[float]:
    """A vector of independent standard Gaussians."""
    return [rng.gauss(0.0, 1.0) for _ in range(dims)]


def recall(found: Sequence[str], exact: Sequence[str]) -> float:
    """The share of the exact top-k that a search found."""
    return len(set(found) & set(exact)) / len(exact) if exact else 1.0
