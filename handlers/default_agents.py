"""The agents served when ``STOWAGE_AGENTS_MODULE`` names none: one ``assistant``.

Its model is ``STOWAGE_MODEL`` (``bedrock/<model-id>`` on AWS), else ``local/echo``,
the offline model, so ``make dev`` answers with no account. Semantic recall is on when
an embedder is at hand: ``STOWAGE_EMBEDDER`` (set by the stack when ``vectorDimensions``
is), else the local model of the ``local-embed`` extra (``make dev``);
``STOWAGE_SEMANTIC_RECALL=off`` turns it off. Copy this module to define your own agents
and point ``STOWAGE_AGENTS_MODULE`` at it.
"""

from __future__ import annotations

from agents import Agent
from agents.app import default_agents


def agents() -> list[Agent]:
    """The default agent list (built when the handlers start)."""
    return default_agents()
