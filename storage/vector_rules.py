"""What every vector backend checks, and how it ranks, so they all answer alike.

The checks run before any driver is touched (a refused call stores nothing); the
ranking rule (score, then ``created_at``, then ``message_id``) is applied by every
backend to the candidates its index returns, so ties break the same way everywhere.
Scores are cosine similarities; backends that compute a cosine *distance*
(sqlite-vec, pgvector, DynamoDB's ``COSINE``) report ``1 - distance``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from storage import validation as v
from storage.errors import ValidationError
from storage.records import MessageVector, VectorMatch

MAX_DIMENSIONS = 4096
"""The most floats a vector may hold (the limit of DynamoDB's vector indexes)."""
MAX_TOP_K = 100
"""The most matches one search returns (DynamoDB's ``SearchVectors`` limit)."""
DEFAULT_TOP_K = 4
EMBEDDED_ROLES = ("user", "assistant")
"""The roles whose messages semantic recall embeds (when they have text)."""


def embeddable(role: str, content: Mapping[str, object]) -> bool:
    """Whether semantic recall gives this message a vector (a user or assistant text)."""
    return role in EMBEDDED_ROLES and bool(text_of(content))


def text_of(content: Mapping[str, object]) -> str:
    """The text semantic recall embeds: ``content["content"]``, else the text parts.

    Mastra's SemanticRecall (``extractTextContent``) takes ``content.content`` when it is
    a non-empty string, else joins the ``text`` parts with newlines. A vector describes
    this text: a backend keeping vectors on its message rows keeps one while it holds.
    """
    plain = content.get("content")
    if isinstance(plain, str) and plain.strip():
        return plain
    parts = content.get("parts") or []
    if not isinstance(parts, list):
        return ""
    return "\n".join(str(p.get("text") or "") for p in parts
                     if isinstance(p, Mapping) and p.get("type") == "text").strip()


@dataclass(frozen=True)
class Query:
    """A checked search: the unit-length query vector and its filters."""

    vector: tuple[float, ...]
    embedder: str
    resource_id: str
    thread_id: str | None
    top_k: int
    threshold: float | None

    @property
    def dimensions(self) -> int:
        """The query vector's length."""
        return len(self.vector)


def check_vector(vector: object, what: str = "vector") -> tuple[float, ...]:
    """A vector of 1..4096 finite numbers, not all zero (cosine needs a length).

    Returns:
        The vector as a tuple of floats.
    """
    if isinstance(vector, str | bytes) or not isinstance(vector, Sequence):
        raise ValidationError(f"{what} must be a sequence of numbers")
    if not vector:
        raise ValidationError(f"{what} must hold at least one number")
    if len(vector) > MAX_DIMENSIONS:
        raise ValidationError(f"{what} has {len(vector)} dimensions; at most {MAX_DIMENSIONS}")
    values: list[float] = []
    for x in vector:
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise ValidationError(f"{what} must hold numbers only, got {type(x).__name__}")
        f = float(x)
        if not math.isfinite(f) or abs(f) > 3.4e38:
            raise ValidationError(f"{what} holds {x!r}: every value must be a finite float32")
        values.append(f)
    if not any(values):
        raise ValidationError(f"{what} is all zeros: cosine similarity is undefined for it")
    return tuple(values)


def check_embedder(embedder: object) -> str:
    """An embedder id: a non-blank string (``local/all-minilm-l6-v2``, ``bedrock/...``)."""
    return v.check_id(embedder, "embedder")


def check_vectors(vectors: object) -> list[MessageVector]:
    """Check an upsert batch; the last vector of a message id wins.

    Raises:
        ValidationError: not a list of :class:`MessageVector`, a bad id or vector, or
            two embedders or dimensions in one batch.
    """
    if isinstance(vectors, MessageVector) or not isinstance(vectors, Iterable):
        raise ValidationError("upsert takes a list of MessageVector")
    checked: dict[str, MessageVector] = {}
    pair: tuple[str, int] | None = None
    for item in vectors:
        if not isinstance(item, MessageVector):
            raise ValidationError(f"expected a MessageVector, got {type(item).__name__}")
        v.check_id(item.message_id, "message id")
        v.check_id(item.thread_id, "thread id")
        v.check_id(item.resource_id, "resource id")
        check_embedder(item.embedder)
        if not isinstance(item.created_at, datetime):
            raise ValidationError("created_at must be a datetime")
        values = check_vector(item.vector, f"vector of message {item.message_id!r}")
        this = (item.embedder, len(values))
        if pair is not None and this != pair:
            raise ValidationError(
                f"one upsert mixes embedders or dimensions: {pair} and {this}"
            )
        pair = this
        checked.pop(item.message_id, None)  # keep the batch order of the last write
        checked[item.message_id] = MessageVector(
            message_id=item.message_id,
            thread_id=item.thread_id,
            resource_id=item.resource_id,
            created_at=item.created_at,
            vector=values,
            embedder=item.embedder,
        )
    return list(checked.values())


def check_query(
    vector: object,
    *,
    embedder: object,
    resource_id: object,
    thread_id: object = None,
    top_k: object = DEFAULT_TOP_K,
    threshold: object = None,
) -> Query:
    """Check a search's arguments (see :meth:`storage.protocols.VectorStore.search`)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValidationError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ValidationError(f"threshold must be a number, got {threshold!r}")
        if not (math.isfinite(threshold) and -1.0 <= threshold <= 1.0):
            raise ValidationError(
                f"threshold must lie in [-1, 1] (a cosine similarity), got {threshold!r}"
            )
    return Query(
        vector=check_vector(vector, "query vector"),
        embedder=check_embedder(embedder),
        resource_id=v.check_id(resource_id, "resource id"),
        thread_id=None if thread_id is None else v.check_id(thread_id, "thread id"),
        top_k=top_k,
        threshold=None if threshold is None else float(threshold),
    )


def check_binding(bound: tuple[str, int] | None, embedder: str, dimensions: int) -> None:
    """Refuse an ``(embedder, dimensions)`` pair other than the one the index is bound to."""
    if bound is not None and bound != (embedder, dimensions):
        raise ValidationError(
            f"the vector index holds {bound[1]}-dimension vectors of embedder "
            f"{bound[0]!r}; got {dimensions} dimensions of {embedder!r} (vectors of "
            "different embedders cannot be compared: use the index's embedder, or a "
            "new vector store for the new one)"
        )


def to_float32(vector: Sequence[float]) -> tuple[float, ...]:
    """The vector as the float32 values every vector index stores."""
    return struct.unpack(f"{len(vector)}f", struct.pack(f"{len(vector)}f", *vector))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two non-zero vectors of one length, clamped to [-1, 1]."""
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return max(-1.0, min(1.0, dot / norm))


def rank(matches: Iterable[VectorMatch], top_k: int, threshold: float | None) -> list[VectorMatch]:
    """Best first (score desc, then ``created_at``, ``message_id`` asc), thresholded, cut."""
    kept = [m for m in matches if threshold is None or m.score >= threshold]
    kept.sort(key=lambda m: (-m.score, m.created_at, m.message_id))
    return kept[:top_k]


__all__ = [
    "DEFAULT_TOP_K",
    "MAX_DIMENSIONS",
    "MAX_TOP_K",
    "Query",
    "check_binding",
    "check_embedder",
    "check_query",
    "check_vector",
    "check_vectors",
    "cosine",
    "rank",
    "to_float32",
]
