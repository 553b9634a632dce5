"""``App``: the agents of a deployment, their shared storage and their job runner."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from storage.errors import NotFoundError

if TYPE_CHECKING:
    from agents.agent import Agent
    from agents.jobs import JobRunner

log = logging.getLogger(__name__)


class AgentNotFoundError(NotFoundError):
    """No agent with that id."""


class App:
    """A set of agents sharing instance-level storage and a job runner.

    Args:
        agents: the agents (ids must be unique).
        storage: the instance-level store; an agent with ``Memory(storage=...)`` uses
            its own for memory instead. ``None``: nothing is stored.
        jobs: where background work (titles, scorers) goes; default: a
            :class:`~agents.jobs.BackgroundJobRunner` (threads in this process).

    Example:
        >>> app = App(agents=[agent], storage=storage.from_env())
        >>> app.get_agent("assistant").generate("hi", memory={"thread": "t", "resource": "u"})
    """

    def __init__(self, agents: Iterable[Agent] = (), *, storage: Any = None,
                 jobs: JobRunner | None = None) -> None:
        from agents.jobs import BackgroundJobRunner

        self.storage = storage
        self.jobs: JobRunner = jobs if jobs is not None else BackgroundJobRunner()
        bind = getattr(self.jobs, "bind", None)
        if callable(bind):
            bind(self)
        self.agents: dict[str, Agent] = {}
        for agent in agents:
            self.add_agent(agent)

    def add_agent(self, agent: Agent) -> Agent:
        """Register an agent (and make this app its storage and job runner).

        Raises:
            ValueError: another agent has that id.
        """
        if agent.id in self.agents and self.agents[agent.id] is not agent:
            raise ValueError(f"two agents with id {agent.id!r}")
        self.agents[agent.id] = agent
        agent._bind(self)
        return agent

    def get_agent(self, agent_id: str) -> Agent:
        """The agent with that id.

        Raises:
            AgentNotFoundError: no such agent (a ``NotFoundError``: HTTP 404).
        """
        try:
            return self.agents[agent_id]
        except KeyError:
            raise AgentNotFoundError(f"no agent with id {agent_id!r}") from None

    def list_agents(self) -> list[dict[str, Any]]:
        """Every agent's details (id, name, instructions, model id, tools with schemas)."""
        return [agent.describe() for agent in self.agents.values()]

    def close(self) -> None:
        """Finish background jobs, then let go of the job runner."""
        close = getattr(self.jobs, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return f"App(agents={list(self.agents)}, storage={self.storage!r})"
