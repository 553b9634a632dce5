"""The embedder interface: ``id``, ``dimensions`` and ``embed(texts)``, plus shared checks.

An embedder turns texts into vectors of a fixed length. Semantic recall embeds every
stored message once and each query once, so an embedder must be deterministic for a
given text and must always answer with ``dimensions`` floats per text: a store bound
to one ``(id, dimensions)`` pair refuses vectors of another (a silent wrong search
is worse than an error).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from agents.models.base import ModelError


class EmbedderError(ModelError):
    """An embedding call failed (after retries), or the provider answered nonsense."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    Attributes:
        id: the embedder's name, ``<provider>/<model>`` (``local/all-minilm-l6-v2``);
            stored with every vector.
        dimensions: the length of every vector it returns.
    """

    id: str

    @property
    def dimensions(self) -> int:
        """The length of every vector :meth:`embed` returns."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order.

        Raises:
            EmbedderError: the provider failed or answered with the wrong shape.
        """
        ...


class BaseEmbedder:
    """Batching and output checks; a provider implements :meth:`_embed_batch`.

    Attributes:
        batch_size: the most texts one provider call receives.
        max_chars: texts are cut to this many characters before they are sent (the
            provider's own input limit; a message longer than that is recalled by
            its beginning).
    """

    id: str = "embedder"
    batch_size: int = 64
    max_chars: int = 20_000
    _dimensions: int = 0

    @property
    def dimensions(self) -> int:
        """The length of every vector this embedder returns."""
        return self._dimensions

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, ``batch_size`` texts per provider call.

        Raises:
            EmbedderError: a call failed, or returned the wrong number of vectors,
                the wrong length or a non-finite value.
            ValueError: ``texts`` is a string, or holds a non-string or blank text.
        """
        if isinstance(texts, str):
            raise ValueError("embed takes a list of texts, not one string")
        items = list(texts)
        for text in items:
            if not isinstance(text, str) or not text.strip():
                raise ValueError("every text to embed must be a non-blank string")
        vectors: list[list[float]] = []
        for batch in _batches(items, self.batch_size):
            out = self._embed_batch([t[: self.max_chars] for t in batch])
            if len(out) != len(batch):
                raise EmbedderError(
                    f"{self.id} returned {len(out)} vectors for {len(batch)} texts")
            vectors.extend(self._checked(v) for v in out)
        return vectors

    def _embed_batch(self, texts: list[str]) -> Sequence[Sequence[float]]:
        raise NotImplementedError

    def _checked(self, vector: Sequence[float]) -> list[float]:
        values = [float(x) for x in vector]
        if len(values) != self.dimensions:
            raise EmbedderError(
                f"{self.id} returned a vector of {len(values)} dimensions, "
                f"expected {self.dimensions}")
        if not all(math.isfinite(x) for x in values):
            raise EmbedderError(f"{self.id} returned a non-finite value")
        return values

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, dimensions={self.dimensions})"


def normalize(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector is returned as is)."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else [float(x) for x in vector]


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + size]


__all__ = ["BaseEmbedder", "Embedder", "EmbedderError", "normalize"]
