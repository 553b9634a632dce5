"""Helpers shared by the reliability suites: a frozen clock, outcomes, backends.

The clock: every backend stamps ``updated_at`` (and run ``created_at``) with
:func:`storage.timeutil.utcnow`; the model-based tests replace the clock it reads
so the reference and the backend under test stamp the same instants, and results
compare exactly instead of "up to timing".
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import fields, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import storage.errors as errors
import storage.timeutil as timeutil
from storage.records import Thread
from tests.storage.conformance.backends import BACKENDS, Backend

EPOCH = datetime(2031, 1, 1, tzinfo=UTC)


class Clock:
    """A settable clock for ``storage.timeutil.utcnow``."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.now = start

    def advance(self, ms: int) -> None:
        self.now += timedelta(milliseconds=ms)


@contextmanager
def frozen_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``storage.timeutil.utcnow()`` return ``clock.now`` until exit."""
    real = timeutil.datetime

    class _Frozen(real):  # type: ignore[valid-type,misc]
        @classmethod
        def now(cls, tz: Any = None) -> datetime:
            return clock.now if tz is None else clock.now.astimezone(tz)

    timeutil.datetime = _Frozen  # type: ignore[misc]
    try:
        yield clock
    finally:
        timeutil.datetime = real  # type: ignore[misc]


def error_kind(exc: BaseException) -> str:
    """The ``storage.errors`` class an exception is (or ``!<type>`` when it is none)."""
    for cls in type(exc).__mro__:
        if cls.__module__ == errors.__name__:
            return cls.__name__
    return f"!{type(exc).__module__}.{type(exc).__name__}"


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """``("ok", result)`` or ``("err", error kind)``: what a caller can observe."""
    try:
        return ("ok", normalise(call()))
    except Exception as exc:
        return ("err", error_kind(exc))


_EXACT_INT = 2**53


def normalise(value: Any) -> Any:
    """Fold what is legitimately backend-specific, recursively through records and JSON.

    * A thread title ``""`` is "no title" (Mastra's SQL column is NOT NULL, so the SQL
      backends store ``None`` as ``""`` and read it back as ``None``).
    * An integer beyond 2**53 is compared as the double it denotes: PostgreSQL's jsonb
      prints a large float such as ``-3.164104769195213e16`` as the digits
      ``-31641047691952130``, the same JSON (and JavaScript) number.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and abs(value) > _EXACT_INT:
        return float(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(normalise(v) for v in value)
    if isinstance(value, Thread) and value.title == "":
        value = replace(value, title=None)
    if is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: normalise(getattr(value, f.name)) for f in fields(value)}
        return replace(value, **changes)
    return value


def canonical(value: Any) -> str:
    """JSON text that distinguishes 1 from 1.0 and True from 1 (exactness checks)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=True, allow_nan=True)


_prefixes = itertools.count()
_session = secrets.token_hex(2)


def fresh_prefix() -> str:
    """An id prefix no earlier example of this process has used."""
    return f"p{_session}{next(_prefixes)}-"


def backend(name: str) -> Backend:
    """The conformance backend entry called ``name``."""
    for entry in BACKENDS:
        if entry.name == name:
            return entry
    raise KeyError(name)


def open_backend(name: str, tmp: Path) -> AbstractContextManager[Any]:
    """The conformance factory of backend ``name``: a set-up store, closed on exit."""
    return backend(name).factory(tmp)
