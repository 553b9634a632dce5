"""Response sizes are measured exactly as the Lambda runtime sends them (handlers.sizes)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.sizes import (
    body_cost,
    bounded,
    envelope_bytes,
    fitting,
    serialize,
    slice_within,
)

# Text as messages hold it: any character but a lone surrogate (storage refuses those),
# with the ones JSON escapes (quotes, backslashes, controls) and multi-byte UTF-8 common.
TEXT = st.text(st.one_of(st.sampled_from('"\\\n\t\x00\x1fé€😀\u2028'),
                         st.characters(blacklist_categories=("Cs",))), max_size=40)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), TEXT,
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=15)


def _envelope(items: list[Any]) -> int:
    # What the api handler returns for a list, as the python3.13 runtime writes it.
    body = serialize({"messages": items, "total": 7, "hasMore": False})
    return envelope_bytes({"statusCode": 200, "headers": {"Content-Type": "application/json"},
                           "body": body, "isBase64Encoded": False})


@settings(max_examples=300, deadline=None)
@given(items=st.lists(VALUES, max_size=6))
def test_each_item_costs_exactly_what_it_adds_to_the_envelope(items: list[Any]) -> None:
    commas = max(len(items) - 1, 0)
    assert _envelope(items) == _envelope([]) + sum(body_cost(i) for i in items) + commas


@settings(max_examples=200, deadline=None)
@given(items=st.lists(VALUES, min_size=1, max_size=8), budget=st.integers(0, 600))
def test_fitting_keeps_the_longest_prefix_within_the_budget(items: list[Any],
                                                            budget: int) -> None:
    kept = fitting(items, budget)
    cost = sum(body_cost(i) for i in items[:kept]) + max(kept - 1, 0)
    assert cost <= budget
    if kept < len(items):
        assert cost + body_cost(items[kept]) + (1 if kept else 0) > budget


@settings(max_examples=300, deadline=None)
@given(items=st.lists(VALUES, max_size=6))
def test_the_envelope_size_is_what_the_runtime_serializer_writes(items: list[Any]) -> None:
    # The python3.12/3.13 runtime marshals with simplejson, ensure_ascii=False.
    import simplejson

    result = {"statusCode": 200, "headers": {"Content-Type": "application/json"},
              "body": serialize({"messages": items}), "isBase64Encoded": False}
    sent = simplejson.JSONEncoder(use_decimal=False, ensure_ascii=False).encode(result)
    written = len(sent.encode("utf-8"))
    # Exact, or over by the 3 bytes of each line separator the C encoder leaves raw
    assert envelope_bytes(result) - written == 3 * sum(sent.count(c) for c in "\u2028\u2029")


def test_text_is_sent_as_utf8_not_escapes() -> None:
    # A character costs its UTF-8 bytes: the python3.12/3.13 runtimes write UTF-8 too.
    assert serialize({"t": "é😀"}) == '{"t":"é😀"}'
    assert body_cost("é" * 1000) == 2 * 1000 + 2 + 2  # the text, its quotes, escaped


def test_a_lone_surrogate_falls_back_to_escapes_and_can_still_be_sent() -> None:
    text = serialize({"t": "\udc00"})
    assert text == '{"t":"\\udc00"}'
    text.encode("utf-8")


@given(offset=st.integers(0, 10**6), kept=st.integers(1, 1000))
def test_a_cut_page_size_divides_its_offset(offset: int, kept: int) -> None:
    size = slice_within(offset, kept)
    assert 1 <= size <= kept and offset % size == 0


def test_an_answer_over_the_limit_becomes_a_json_413() -> None:
    big = {"statusCode": 200, "headers": {}, "body": "x" * 2000, "isBase64Encoded": False}
    assert bounded(big, 5000) is big
    refused = bounded(big, 1000)
    assert refused["statusCode"] == 413
    assert "over the 1000-byte limit" in json.loads(refused["body"])["error"]
