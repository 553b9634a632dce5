"""App: agents by id, their details, and loading the deployment's app."""

from __future__ import annotations

from typing import Any

import pytest

from agents import Agent, AgentNotFoundError, App, BackgroundJobRunner, SQSJobRunner, load_app
from storage.errors import NotFoundError


def weather(city: str) -> str:
    """Weather of a city."""
    return "sunny"


APP = App(agents=[Agent(id="from-module", model="local/echo")])


def make_app() -> App:
    return App(agents=[Agent(id="from-factory")])


def test_get_agent_and_list_agents(store: Any) -> None:
    app = App(agents=[Agent(id="a", name="Alpha", instructions="Be A.", tools=[weather]),
                      Agent(id="b", model="openai/gpt-4o-mini")], storage=store)

    assert app.get_agent("a").name == "Alpha"
    with pytest.raises(AgentNotFoundError) as info:
        app.get_agent("zzz")
    assert isinstance(info.value, NotFoundError)
    listed = {a["id"]: a for a in app.list_agents()}
    assert listed["a"]["instructions"] == "Be A."
    assert listed["a"]["tools"]["weather"]["inputSchema"]["properties"]["city"]["type"] == "string"
    assert listed["b"]["modelId"] == "openai/gpt-4o-mini" and listed["b"]["provider"] == "openai"


def test_duplicate_agent_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        App(agents=[Agent(id="a"), Agent(id="a")])


def test_load_app_from_a_spec() -> None:
    assert load_app("tests.agents.test_app:APP") is APP
    assert list(load_app("tests.agents.test_app:make_app").agents) == ["from-factory"]
    assert list(load_app(environ={"STOWAGE_APP": "tests.agents.test_app:APP"}).agents) == [
        "from-module"]
    for bad in ("no-colon", "tests.agents.test_app:weather"):
        with pytest.raises(ValueError):
            load_app(bad)


def test_default_app() -> None:
    app = load_app(environ={"STOWAGE_STORAGE_URL": "memory://"})
    assert isinstance(app.jobs, BackgroundJobRunner)
    result = app.get_agent("assistant").generate("hi", memory={"thread": "t", "resource": "u"})
    assert result.text == "Echo: hi"
    app.close()
    assert app.storage.memory.get_thread("t").title == "Echo: hi"

    queued = load_app(environ={"STOWAGE_STORAGE_URL": "memory://",
                               "STOWAGE_JOBS_QUEUE_URL": "https://sqs.example/q",
                               "STOWAGE_MODEL": "openai/local-model"})
    assert isinstance(queued.jobs, SQSJobRunner)
    assert queued.get_agent("assistant").model.id == "openai/local-model"
