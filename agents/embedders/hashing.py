"""A deterministic bag-of-words embedder for unit tests (``local/hash``): no model, no torch.

Each word is hashed into one of ``dimensions`` buckets and the counts are scaled to
unit length, so texts sharing words are near and texts sharing none are orthogonal.
It is no substitute for a real model (it knows no synonyms); the end-to-end recall
tests use the real local model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from agents.embedders.base import BaseEmbedder, normalize

_WORD = re.compile(r"[a-z0-9]+")


class HashEmbedder(BaseEmbedder):
    """Feature hashing of lower-cased words.

    Args:
        dimensions: the vector length.
    """

    def __init__(self, *, dimensions: int = 256) -> None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not (
                1 <= dimensions <= 4096):
            raise ValueError(f"dimensions must be an integer in 1..4096, got {dimensions!r}")
        self.id = "local/hash"
        self._dimensions = dimensions

    def _embed_batch(self, texts: list[str]) -> Sequence[Sequence[float]]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        counts = [0.0] * self._dimensions
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            counts[int.from_bytes(digest, "big") % self._dimensions] += 1.0
        if not any(counts):
            counts[0] = 1.0  # punctuation only: still a valid, finite vector
        return normalize(counts)


__all__ = ["HashEmbedder"]
