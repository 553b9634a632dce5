"""Deadlines: how long a non-streamed run may take, model calls included.

API Gateway cuts a non-streamed REST call at 29 s while the function may go on
running. A :class:`Deadline` bounds the whole run instead: the models bound their read
timeouts and retries by :meth:`Deadline.remaining`, and the agent checks it before
each model call, after each step and before saving, so a run out of time raises
:class:`DeadlineExceededError` and saves nothing (a retry with the same message id then
runs the turn again, see :mod:`agents.idempotency`).

    >>> deadline = Deadline.after(25)
    >>> 24 < deadline.remaining() <= 25
    True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


class DeadlineExceededError(TimeoutError):
    """The run's time ran out before it finished; nothing of the turn was saved.

    Attributes:
        retryable: always ``True``: the same request may succeed later (or on the
            stream route, which has no deadline).
    """

    retryable = True


@dataclass(frozen=True)
class Deadline:
    """An instant on the monotonic clock (``time.monotonic()``) a run must end by."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """The deadline ``seconds`` from now.

        Raises:
            ValueError: ``seconds`` is not a positive finite number.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
            math.isfinite(seconds) and seconds > 0
        ):
            raise ValueError(f"a timeout must be a positive number of seconds, got {seconds!r}")
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (``0.0`` once spent)."""
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        """Whether the time is spent."""
        return time.monotonic() >= self.at

    def check(self, before: str) -> None:
        """Raise when the time is spent.

        Args:
            before: what was about to happen (for the message).

        Raises:
            DeadlineExceededError: the deadline passed.
        """
        if self.expired:
            raise DeadlineExceededError(f"the request's time ran out before {before}")


def time_left(deadline: float | None) -> float | None:
    """Seconds until a monotonic ``deadline`` (``None``: no deadline; never below 0)."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


__all__ = ["Deadline", "DeadlineExceededError", "time_left"]
