"""Fuzzing stored JSON: arbitrary values in message content and metadata, every backend.

Whatever JSON-ish value a caller hands over (deep nesting, long strings, NUL bytes,
lone surrogates as left by an invalid ``\\ud800`` escape, huge or tiny numbers, NaN,
odd keys) is either stored exactly (read back equal, with ints and floats kept
apart) or refused with :class:`storage.ValidationError` — and every backend gives
the same verdict as the ``memory://`` reference. Nothing else may escape.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import storage
from storage import Message, Thread
from tests.reliability.conftest import PROFILE
from tests.reliability.support import (
    backend,
    canonical,
    error_kind,
    fresh_prefix,
    normalise,
)
from tests.storage.conformance.backends import BACKENDS

NAMES = [b.name for b in BACKENDS if b.name != "memory"]

weird_text = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2),  # lone surrogates
    st.text(st.characters(codec="utf-8"), max_size=5).map(lambda t: t + "\x00"),
    st.sampled_from(["", "\x00", "\ud800", "\udfff", "a\udc00b", "\u2028", "\ufeff", "💾"]),
)
huge_text = st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "é", "💾", "\x00"]),
                      st.integers(10_000, 70_000))
numbers = st.one_of(
    st.integers(),
    st.integers(-(10**40), 10**40),
    st.floats(),  # NaN and infinities included: they must be refused
    st.sampled_from([0.0, -0.0, 1e-200, 1e200, 5e-324, 1.7976931348623157e308, 2**63, -(2**64)]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, weird_text)
keys = st.one_of(weird_text, st.sampled_from(["", "__proto__", "a.b", "$x", "#k", "1"]))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)


def nested(depth: int, leaf: Any, as_dict: bool) -> Any:
    for _ in range(depth):
        leaf = {"d": leaf} if as_dict else [leaf]
    return leaf


deep = st.builds(nested, st.integers(20, 40), scalars, st.booleans())
payloads = st.one_of(values, deep, huge_text)


def attempt(call: Any) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except storage.ValidationError:
        return ("refused", None)
    except Exception as exc:
        return ("crash", f"{error_kind(exc)}: {exc}")


def same_json(read: Any, written: Any) -> bool:
    """Equal as JSON values, ints kept apart from floats (after :func:`normalise`)."""
    return canonical(_zero(normalise(read))) == canonical(_zero(normalise(written)))


def _zero(value: Any) -> Any:
    # -0.0 is 0 in JSON's number model (PostgreSQL's numeric has no negative zero).
    if isinstance(value, float) and value == 0 and math.copysign(1, value) < 0:
        return 0.0
    if isinstance(value, dict):
        return {k: _zero(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_zero(v) for v in value]
    return value


def roundtrip(store: Any, prefix: str, payload: Any, where: str) -> tuple[str, Any]:
    """Store ``payload`` in one place; return the verdict and what reads back."""
    memory = store.memory
    thread_id = f"{prefix}t"
    if where == "thread metadata":
        def call() -> Any:
            memory.save_thread(Thread(id=thread_id, resource_id=f"{prefix}r",
                                      metadata={"k": payload}))
            got = memory.get_thread(thread_id)
            return got.metadata["k"] if got is not None else "<missing>"
    elif where == "resource metadata":
        def call() -> Any:
            memory.update_resource(f"{prefix}r", metadata={"k": payload})
            got = memory.get_resource(f"{prefix}r")
            return got.metadata["k"] if got is not None else "<missing>"
    else:
        def call() -> Any:
            memory.save_thread(Thread(id=thread_id, resource_id=f"{prefix}r"))
            content = {"format": 2, "parts": [{"type": "text", "text": "x"}]}
            if where == "content metadata":
                content["metadata"] = {"k": payload}
            else:
                content["extra"] = payload
            memory.save_messages([Message(id=f"{prefix}m", thread_id=thread_id, role="user",
                                          content=content)])
            (got,) = memory.get_messages([f"{prefix}m"]) or [None]
            if got is None:
                return "<missing>"
            if where == "content metadata":
                return got.content["metadata"]["k"]
            return got.content["extra"]
    return attempt(call)


@pytest.mark.parametrize("name", [pytest.param(n, marks=backend(n).marks) for n in NAMES])
def test_arbitrary_json_is_stored_exactly_or_refused_like_the_reference(
    name: str, tmp_path: Path
) -> None:
    reference = storage.open("memory://")
    reference.setup()
    with backend(name).factory(tmp_path) as store:

        @settings(PROFILE, max_examples=max(PROFILE.max_examples // 2, 100))
        @given(payload=payloads, where=st.sampled_from(
            ["thread metadata", "resource metadata", "content metadata", "content"]))
        def check(payload: Any, where: str) -> None:
            prefix = fresh_prefix()
            expected = roundtrip(reference, prefix, payload, where)
            actual = roundtrip(store, prefix, payload, where)
            assert expected[0] != "crash", expected
            assert actual[0] == expected[0], (where, actual, expected[0])
            if actual[0] == "ok":
                assert same_json(actual[1], payload), (where, actual[1])

        check()
