"""Test support for semantic recall: the real local model, loaded once per session.

:class:`CountingEmbedder` wraps an embedder, counts what it is asked to embed and
caches vectors by text for the whole session, so the labelled set and the long
conversations are embedded once however many tests and backends use them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

_CACHE: dict[tuple[str, int, str], list[float]] = {}
_LOCK = threading.Lock()


class CountingEmbedder:
    """An embedder that counts calls and texts and caches vectors (per session, by text).

    Attributes:
        calls: how many times :meth:`embed` was called.
        texts: every text asked for, in order (cached or not).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.id: str = inner.id
        self.calls = 0
        self.texts: list[str] = []

    @property
    def dimensions(self) -> int:
        """The inner embedder's."""
        return int(self.inner.dimensions)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The inner embedder's vectors (cached by text)."""
        items = list(texts)
        with _LOCK:
            self.calls += 1
            self.texts.extend(items)
            missing = [t for t in dict.fromkeys(items) if self._key(t) not in _CACHE]
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing), strict=True):
                with _LOCK:
                    _CACHE[self._key(text)] = vector
        return [list(_CACHE[self._key(t)]) for t in items]

    def _key(self, text: str) -> tuple[str, int, str]:
        return (self.id, self.dimensions, text)

    def reset(self) -> None:
        """Forget the counts (not the cache)."""
        self.calls = 0
        self.texts = []
