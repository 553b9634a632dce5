"""Agents modules for the wiring tests (``STOWAGE_AGENTS_MODULE``)."""

from __future__ import annotations

from agents import Agent, App

agents = [Agent(id="listed", model="local/echo")]


def app() -> App:
    """An App without storage: the wiring gives it ``storage.from_env()``."""
    return App(agents=[Agent(id="from-app", model="local/echo")])
