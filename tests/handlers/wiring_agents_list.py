"""An agents module exposing only ``agents`` (a function returning the list)."""

from __future__ import annotations

from agents import Agent


def agents() -> list[Agent]:
    """Two agents."""
    return [Agent(id="one", model="local/echo"), Agent(id="two", model="local/echo")]
