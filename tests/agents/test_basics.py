"""Agents without storage: echo, streaming events, input shapes, tools and the tool loop."""

from __future__ import annotations

import pydantic
import pytest

from agents import Agent, Event, ModelError, Tool, ToolContext, tool
from agents.models import Reply, ScriptedModel, ToolCall, resolve_model
from storage.errors import ValidationError


def test_echo_generate_is_deterministic_and_offline() -> None:
    agent = Agent(id="echo", model="local/echo")

    first = agent.generate("hello there")
    second = agent.generate("hello there")

    assert first.text == second.text == "Echo: hello there"
    assert first.finish_reason == "stop"
    assert first.usage.output_tokens == 3
    assert first.usage.total_tokens == first.usage.input_tokens + first.usage.output_tokens
    assert first.run_id != second.run_id
    assert first.thread_id is None


def test_stream_yields_mastra_chunks_word_by_word() -> None:
    agent = Agent(id="echo")

    stream = agent.stream("one two three")
    events = list(stream)

    types = [e.type for e in events]
    assert types[:3] == ["start", "step-start", "text-start"]
    assert types[-3:] == ["text-end", "step-finish", "finish"]
    deltas = [e.payload["text"] for e in events if e.type == "text-delta"]
    assert deltas == ["Echo:", " one", " two", " three"]
    assert {e.run_id for e in events} == {stream.run_id}
    chunk = events[3].to_dict()
    assert chunk["from"] == "AGENT" and chunk["runId"] == stream.run_id
    assert chunk["payload"]["id"] == events[2].payload["id"]
    finish = events[-1].payload
    assert finish["stepResult"]["reason"] == "stop"
    assert finish["output"]["usage"]["outputTokens"] == 4
    assert stream.result is not None and stream.result.text == "Echo: one two three"


@pytest.mark.parametrize(
    "given",
    [
        "the last",
        ["first", "the last"],
        {"role": "user", "content": "the last"},
        [{"role": "user", "content": [{"type": "text", "text": "the last"}]}],
        [{"role": "system", "content": "be nice"}, {"role": "user", "content": "the last"}],
    ],
)
def test_input_shapes(given: object) -> None:
    model = ScriptedModel(["ok"])
    Agent(id="a", model=model, instructions="base").generate(given)

    request = model.requests[0]
    assert request.messages[-1].role == "user"
    assert request.messages[-1].text == "the last"
    assert request.system is not None and request.system.startswith("base")


def test_system_messages_join_the_system_prompt() -> None:
    model = ScriptedModel(["ok"])
    Agent(id="a", model=model, instructions="base").generate(
        [{"role": "system", "content": "be nice"}, "hi"]
    )
    assert model.requests[0].system == "base\n\nbe nice"
    assert [m.role for m in model.requests[0].messages] == ["user"]


@pytest.mark.parametrize("bad", [42, [], [{"role": "tool", "content": "x"}], [{"content": 3}]])
def test_bad_input_is_refused_before_any_event(bad: object) -> None:
    agent = Agent(id="a")
    with pytest.raises(ValidationError):
        agent.stream(bad)


def get_weather(city: str, unit: str = "C") -> dict[str, object]:
    """Current weather of a city.

    Args:
        city: the city name.
        unit: C or F.
    """
    return {"city": city, "temp": 21 if unit == "C" else 70}


class Order(pydantic.BaseModel):
    item: str
    quantity: int = pydantic.Field(ge=1)


def test_tool_schema_from_hints_and_docstring() -> None:
    spec = Tool(get_weather).spec()
    assert spec.name == "get_weather"
    assert spec.description == "Current weather of a city."
    city = spec.parameters["properties"]["city"]
    assert city == {"type": "string", "description": "the city name."}
    assert spec.parameters["properties"]["unit"]["default"] == "C"
    assert spec.parameters["required"] == ["city"]


def test_pydantic_typed_tool_and_context_injection() -> None:
    seen: list[ToolContext] = []

    @tool(name="place_order")
    def place(order: Order, ctx: ToolContext) -> Order:
        """Place an order."""
        seen.append(ctx)
        return order

    assert place.spec().parameters["properties"]["quantity"]["minimum"] == 1
    assert "ctx" not in place.spec().parameters["properties"]
    model = ScriptedModel([Reply(tool_calls=[("place_order", {"item": "tea", "quantity": 2})]),
                           "ordered"])
    result = Agent(id="shop", model=model, tools=[place]).generate("tea please")

    assert result.tool_results[0].result == {"item": "tea", "quantity": 2}
    assert seen[0].agent_id == "shop" and seen[0].run_id == result.run_id


def test_tool_loop_feeds_results_back_to_the_model() -> None:
    model = ScriptedModel([
        Reply(text="Let me check.", tool_calls=[("get_weather", {"city": "Oslo"})]),
        Reply(tool_calls=[("get_weather", {"city": "Rome", "unit": "F"})]),
        "Oslo 21C, Rome 70F.",
    ])
    agent = Agent(id="w", model=model, tools=[get_weather])

    result = agent.generate("weather?")

    assert result.text == "Oslo 21C, Rome 70F."
    assert [c.args["city"] for c in result.tool_calls] == ["Oslo", "Rome"]
    assert [r.result["temp"] for r in result.tool_results] == [21, 70]
    assert len(model.requests) == 3
    third = model.requests[2].messages
    assert [m.role for m in third] == ["user", "assistant", "tool", "assistant", "tool"]
    assert isinstance(third[1].parts[-1], ToolCall)
    assert third[4].parts[0].result == {"city": "Rome", "temp": 70}  # type: ignore[union-attr]
    assert {t.name for t in model.requests[0].tools} == {"get_weather"}
    parts = result.messages[-1].content["parts"]
    assert [p["type"] for p in parts] == [
        "step-start", "text", "tool-invocation", "step-start", "tool-invocation",
        "step-start", "text",
    ]


def test_tool_errors_go_back_to_the_model() -> None:
    def explode(x: int) -> int:
        """Always fails."""
        raise RuntimeError("boom")

    model = ScriptedModel([
        Reply(tool_calls=[("explode", {"x": 1}), ("explode", {"x": "not a number"}),
                          ("missing", {})]),
        "sorry",
    ])
    result = Agent(id="e", model=model, tools=[explode]).generate("go")

    assert result.text == "sorry"
    assert [r.is_error for r in result.tool_results] == [True, True, True]
    assert "boom" in result.tool_results[0].result["error"]
    assert "invalid arguments" in result.tool_results[1].result["error"]
    assert "unknown tool" in result.tool_results[2].result["error"]
    fed_back = model.requests[1].messages[-1]
    assert fed_back.role == "tool" and all(p.is_error for p in fed_back.parts)  # type: ignore[union-attr]


def test_tool_loop_stops_at_max_steps() -> None:
    model = ScriptedModel([Reply(tool_calls=[("get_weather", {"city": "Oslo"})])])
    result = Agent(id="l", model=model, tools=[get_weather], max_steps=3).generate("loop")

    assert len(model.requests) == 3
    assert result.finish_reason == "tool-calls"
    assert len(result.tool_results) == 3


def test_stream_tool_events_in_order() -> None:
    model = ScriptedModel([Reply(tool_calls=[("get_weather", {"city": "Oslo"})]), "done"])
    events = list(Agent(id="s", model=model, tools=[get_weather]).stream("w"))
    types = [e.type for e in events]
    assert types == [
        "start", "step-start", "tool-call", "tool-result", "step-finish",
        "step-start", "text-start", "text-delta", "text-end", "step-finish", "finish",
    ]
    call, result = events[2].payload, events[3].payload
    assert call["toolName"] == "get_weather" and call["args"] == {"city": "Oslo"}
    assert result["toolCallId"] == call["toolCallId"] and result["isError"] is False
    assert events[4].payload["stepResult"]["isContinued"] is True


def test_model_error_is_the_last_stream_event_and_raises_in_generate() -> None:
    model = ScriptedModel([ModelError("overloaded", code="throttlingException")])
    agent = Agent(id="x", model=model)

    stream = agent.stream("hi")
    events = list(stream)
    assert events[-1].type == "error"
    assert events[-1].payload["error"]["code"] == "throttlingException"
    assert stream.result is None and isinstance(stream.error, ModelError)
    with pytest.raises(ModelError):
        agent.generate("hi")


def test_output_processors_see_events_and_results() -> None:
    class Shout:
        id = "shout"

        def process_input(self, messages, context):  # type: ignore[no-untyped-def]
            return messages

        def process_output_stream(self, event: Event, context: object) -> Event | None:
            if event.type == "text-delta":
                return Event(event.type, event.run_id, {**event.payload,
                                                        "text": event.payload["text"].upper()})
            return None if event.type == "step-start" else event

        def process_output_result(self, messages, context):  # type: ignore[no-untyped-def]
            return messages

    events = list(Agent(id="p", output_processors=[Shout()]).stream("hey you"))
    assert "step-start" not in {e.type for e in events}
    assert "".join(e.payload["text"] for e in events if e.type == "text-delta") == "ECHO: HEY YOU"


def test_model_names_resolve() -> None:
    assert resolve_model("local/echo").id == "local/echo"
    for bad in ("echo", "nope/x", "local/nothing"):
        with pytest.raises(ValueError):
            resolve_model(bad)


def test_describe_lists_tools_with_schemas() -> None:
    info = Agent(id="d", instructions="hi", tools=[get_weather]).describe()
    assert info["modelId"] == "local/echo" and info["provider"] == "local"
    assert info["tools"]["get_weather"]["inputSchema"]["required"] == ["city"]


def test_closing_a_stream_mid_run_records_it_canceled_and_saves_nothing() -> None:
    import storage

    store = storage.open("memory://")
    agent = Agent(id="c")
    from agents import App

    App(agents=[agent], storage=store)
    stream = agent.stream("a b c d", memory={"thread": "t", "resource": "u"})
    assert next(stream).type == "start"
    next(stream)
    stream.close()
    assert store.memory.list_messages("t").total == 0
    assert store.workflows.get_run(stream.run_id).status == "canceled"


def test_input_storage_would_refuse_is_refused_before_the_model_runs() -> None:
    model = ScriptedModel(["never"])
    with pytest.raises(ValidationError):
        Agent(id="v", model=model).generate("nul \x00 char")
    assert model.requests == []


def test_async_variants() -> None:
    import asyncio

    agent = Agent(id="async")

    async def main() -> tuple[str, list[str]]:
        result = await agent.agenerate("hi")
        types = [event.type async for event in agent.astream("hi")]
        return result.text, types

    text, types = asyncio.run(main())
    assert text == "Echo: hi"
    assert types[0] == "start" and types[-1] == "finish"


def test_provider_classes_are_lazy() -> None:
    import subprocess
    import sys

    code = ("import sys, agents, agents.models as m; "
            "assert 'boto3' not in sys.modules and 'httpx' not in sys.modules; "
            "m.BedrockModel; assert 'agents.models.bedrock' in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
