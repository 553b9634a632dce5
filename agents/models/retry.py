"""Retries for model calls: only while nothing has been produced yet.

A call (or a stream) that fails before its first event is retried with exponential
backoff and jitter; once an event has reached the caller, a failure is final, so a
caller never sees half an answer twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from agents.models.base import ModelError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Retry:
    """How a model retries.

    Attributes:
        max_retries: extra attempts after the first.
        backoff: the first delay in seconds; it doubles each time (with jitter).
        sleep: the sleep function (tests pass a recorder).
        translate: turns a provider's exception into a :class:`ModelError` (or
            re-raises what is not the provider's).
    """

    max_retries: int = 3
    backoff: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    translate: Callable[[Exception], ModelError] = field(default=lambda exc: _as_is(exc))
    name: str = "model"

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()``, retried while it raises a retryable error."""
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                error = self.translate(exc)
                if not error.retryable or attempt >= self.max_retries:
                    if error is exc:
                        raise
                    raise error from exc
            attempt += 1
            self.pause(attempt)

    def stream(self, fn: Callable[[], Iterator[T]]) -> Iterator[T]:
        """Iterate ``fn()``; restart it on a retryable error raised before its first item."""
        attempt = 0
        while True:
            emitted = False
            try:
                for item in fn():
                    emitted = True
                    yield item
                return
            except Exception as exc:
                error = self.translate(exc)
                if emitted or not error.retryable or attempt >= self.max_retries:
                    if error is exc:
                        raise
                    raise error from exc
            attempt += 1
            self.pause(attempt)

    def pause(self, attempt: int) -> None:
        """Sleep before attempt ``attempt + 1``."""
        delay = self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        log.info("model retry model=%s attempt=%d delay=%.2fs", self.name, attempt, delay)
        self.sleep(delay)


def _as_is(exc: Exception) -> ModelError:
    if isinstance(exc, ModelError):
        return exc
    raise exc
