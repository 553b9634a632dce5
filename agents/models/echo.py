"""``local/echo``: a deterministic, offline model, so the kit runs end to end with no account."""

from __future__ import annotations

import re
from collections.abc import Iterator

from agents.models.base import (
    BaseModel,
    Finish,
    ModelEvent,
    ModelRequest,
    TextDelta,
    Usage,
    last_user_text,
)

_WORDS = re.compile(r"\s*\S+")


def words(text: str) -> list[str]:
    """Split text into word-sized deltas whose concatenation is ``text`` (modulo trailing space)."""
    pieces = _WORDS.findall(text)
    consumed = sum(len(p) for p in pieces)
    if consumed < len(text) and pieces:
        pieces[-1] += text[consumed:]
    return pieces or ([text] if text else [])


class EchoModel(BaseModel):
    """Answers ``"Echo: <the last user message>"``, streamed word by word.

    Token counts are word counts. It never calls tools, so an agent with tools still
    answers in one step.

    Args:
        prefix: text put before the echoed message.
    """

    def __init__(self, prefix: str = "Echo: ") -> None:
        self.id = "local/echo"
        self.prefix = prefix

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        """Yield the echo word by word, then :class:`Finish` with word counts."""
        reply = self.prefix + (last_user_text(request).strip() or "(nothing)")
        for piece in words(reply):
            yield TextDelta(piece)
        prompt_words = sum(len(m.text.split()) for m in request.messages)
        prompt_words += len((request.system or "").split())
        yield Finish("stop", Usage(prompt_words, len(reply.split())))
