"""Retries for model calls: only while nothing has been produced yet, and only in time.

A call (or a stream) that fails before its first event is retried with exponential
backoff and jitter; once an event has reached the caller, a failure is final, so a
caller never sees half an answer twice. With a deadline (``ModelRequest.deadline``),
a retry that could not start :data:`MIN_ATTEMPT_SECONDS` before it is not tried: the
call ends with :class:`~agents.deadline.DeadlineExceededError` instead.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from agents.deadline import DeadlineExceededError, time_left
from agents.models.base import ModelError

log = logging.getLogger(__name__)

T = TypeVar("T")

MIN_ATTEMPT_SECONDS = 1.0  # a model call given less than this is not worth starting


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

    def call(self, fn: Callable[[], T], *, deadline: float | None = None) -> T:
        """``fn()``, retried while it raises a retryable error (and time is left)."""
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                error = self.translate(exc)
                self._give_up_unless_retryable(exc, error, attempt, deadline)
            attempt += 1
            self.sleep(self.delay(attempt))

    def stream(self, fn: Callable[[], Iterator[T]], *, deadline: float | None = None
               ) -> Iterator[T]:
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
                if emitted:
                    if error is exc:
                        raise
                    raise error from exc
                self._give_up_unless_retryable(exc, error, attempt, deadline)
            attempt += 1
            self.sleep(self.delay(attempt))

    def _give_up_unless_retryable(self, exc: Exception, error: ModelError, attempt: int,
                                  deadline: float | None) -> None:
        """Return when another attempt should follow; raise the final error otherwise.

        Raises:
            DeadlineExceededError: a retryable failure with no time left for another try.
            ModelError: a failure that is not retryable, or the last retry's.
        """
        if error.retryable:
            left = time_left(deadline)
            pause = self.delay(attempt + 1, jitter=False)
            if left is not None and left < pause + MIN_ATTEMPT_SECONDS:
                # Out of time rather than out of luck: say so (the client may retry).
                raise DeadlineExceededError(
                    f"the {self.name} call ran out of time: {error}") from exc
            if attempt < self.max_retries:
                log.info("model retry model=%s attempt=%d", self.name, attempt + 1)
                return
        if error is exc:
            raise exc
        raise error from exc

    def delay(self, attempt: int, *, jitter: bool = True) -> float:
        """The pause before attempt ``attempt + 1`` (between half and all of the backoff)."""
        full = float(self.backoff * (2 ** (attempt - 1)))
        return full * (0.5 + random.random() / 2) if jitter else full


def _as_is(exc: Exception) -> ModelError:
    if isinstance(exc, ModelError):
        return exc
    raise exc
