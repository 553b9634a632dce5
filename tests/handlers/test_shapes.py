"""Wire shapes: a message's text is sent once, and only where Mastra reads it back the same."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.shapes import without_repeated_text


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def test_the_plain_copy_of_a_single_text_part_is_left_out() -> None:
    content = {"format": 2, "parts": [_text("hello")], "content": "hello", "metadata": {"k": 1}}
    assert without_repeated_text(content) == {"format": 2, "parts": [_text("hello")],
                                              "metadata": {"k": 1}}
    assert content["content"] == "hello"  # the stored record is not changed


@pytest.mark.parametrize("content", [
    # Mastra would fall back to the last text part only: "b", not "ab"
    {"format": 2, "parts": [_text("a"), _text("b")], "content": "ab"},
    # Different text, or no text part to fall back to
    {"format": 2, "parts": [_text("a")], "content": "something else"},
    {"format": 2, "parts": [{"type": "step-start"}], "content": "only here"},
    {"format": 2, "parts": [], "content": "only here"},
    # Nothing to drop
    {"format": 2, "parts": [_text("a")]},
    {"format": 2, "parts": [_text("")], "content": ""},
])
def test_the_plain_copy_stays_whenever_the_parts_would_not_give_it_back(
        content: dict[str, Any]) -> None:
    assert without_repeated_text(content) == content
