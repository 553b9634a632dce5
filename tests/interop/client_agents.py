"""Agents the ``@mastra/client-js`` test serves (``STOWAGE_AGENTS_MODULE``).

``assistant`` is the default echo agent; ``gated`` streams its first word, then
waits until the file named by ``STOWAGE_TEST_GATE`` exists (the JS client creates
it when it has consumed the first text chunk), proving chunks reach the client
while the model is still working.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agents import Agent, Memory
from agents.models.base import (
    BaseModel,
    Finish,
    ModelError,
    ModelRequest,
    TextDelta,
    Usage,
    last_user_text,
)


class FileGatedModel(BaseModel):
    """Echoes the last user message word by word, blocking after the first word."""

    id = "test/file-gated"

    def stream(self, request: ModelRequest) -> Iterator[Any]:
        words = ("Gated: " + last_user_text(request)).split(" ")
        gate = Path(os.environ["STOWAGE_TEST_GATE"])
        yield TextDelta(words[0])
        deadline = time.monotonic() + 60
        while not gate.exists():
            if time.monotonic() > deadline:
                raise ModelError("the client never opened the gate")
            time.sleep(0.01)
        for word in words[1:]:
            yield TextDelta(" " + word)
        yield Finish("stop", Usage(1, len(words)))


def agents() -> list[Agent]:
    """``assistant`` (echo, titles, working memory), ``gated`` and ``recaller`` (semantic
    recall with the hashing embedder, so the server loads no model)."""
    return [
        Agent(id="assistant", name="Assistant", instructions="Be brief.", model="local/echo",
              memory=Memory(generate_title=True, working_memory=True)),
        Agent(id="gated", model=FileGatedModel()),
        Agent(id="recaller", model="local/echo",
              memory=Memory(semantic_recall={"topK": 2}, embedder="local/hash")),
    ]
