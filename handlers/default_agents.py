"""The agents served when ``STOWAGE_AGENTS_MODULE`` names none: one ``assistant``.

Its model is ``STOWAGE_MODEL`` (``bedrock/<model-id>`` on AWS), else ``local/echo``,
the offline model, so ``make dev`` answers with no account. Copy this module to
define your own agents and point ``STOWAGE_AGENTS_MODULE`` at it.
"""

from __future__ import annotations

import os

from agents import Agent, Memory
from agents.app import DEFAULT_INSTRUCTIONS


def agents() -> list[Agent]:
    """The default agent list (built when the handlers start)."""
    return [
        Agent(
            id="assistant",
            name="Assistant",
            instructions=DEFAULT_INSTRUCTIONS,
            model=os.environ.get("STOWAGE_MODEL") or "local/echo",
            memory=Memory(last_messages=10, generate_title=True, working_memory=True),
        )
    ]
