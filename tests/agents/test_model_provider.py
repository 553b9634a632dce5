"""What the Bedrock and OpenAI-compatible providers share (agents/models/provider.py):
a request's options over the model's defaults, and tool arguments parsed from JSON."""

from __future__ import annotations

import json

import httpx
import pytest

from agents.models import ChatMessage, ModelError, ModelRequest, TextPart
from agents.models.bedrock import BedrockModel
from agents.models.openai import OpenAIModel
from agents.models.provider import sampling, tool_args
from tests.agents.fakes import FakeBedrockRuntime, tool_use_events

HELLO = (ChatMessage("user", (TextPart("hi"),)),)


def test_the_requests_options_win_over_the_models() -> None:
    request = ModelRequest(HELLO, max_tokens=50, temperature=0.0)

    assert sampling(request, max_tokens=900, temperature=0.7) == (50, 0.0)
    assert sampling(ModelRequest(HELLO), max_tokens=900, temperature=0.7) == (900, 0.7)
    assert sampling(ModelRequest(HELLO), max_tokens=None, temperature=None) == (None, None)


def test_tool_args_objects_bare_values_and_empty_text() -> None:
    assert tool_args('{"a": 1}', error="x") == {"a": 1}
    assert tool_args("3", error="x") == {"input": 3}
    assert tool_args('"Oslo"', error="x") == {"input": "Oslo"}
    assert tool_args("", error="x") == {}


def test_tool_args_that_are_not_json_are_a_model_error() -> None:
    with pytest.raises(ModelError, match="bad input") as caught:
        tool_args('{"a": 1', error="bad input")

    assert caught.value.code == "bad_tool_input"
    assert not caught.value.retryable


def test_bedrock_sends_the_requests_options_over_its_own() -> None:
    model = BedrockModel("amazon.nova-lite-v1:0", client=FakeBedrockRuntime(), max_tokens=900,
                         temperature=0.7)

    kwargs = model.build_request(ModelRequest(HELLO, temperature=0.0))

    assert kwargs["inferenceConfig"] == {"maxTokens": 900, "temperature": 0.0}


def test_bedrock_tool_input_that_is_not_json_ends_the_stream_with_a_model_error() -> None:
    client = FakeBedrockRuntime(converse_stream=[tool_use_events("tu-1", "add", ['{"a": 4'])])
    model = BedrockModel("amazon.nova-lite-v1:0", client=client, sleep=lambda _: None)

    with pytest.raises(ModelError, match="tool input of add is not JSON") as caught:
        list(model.stream(ModelRequest(HELLO)))

    assert caught.value.code == "bad_tool_input"


def _openai(answer: dict[str, object], seen: list[dict[str, object]]) -> OpenAIModel:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=answer)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    return OpenAIModel("gpt-test", base_url="http://model.test/v1", client=client,
                       max_tokens=900, temperature=0.7, sleep=lambda _: None)


def _answer(arguments: str) -> dict[str, object]:
    call = {"id": "call_a", "type": "function",
            "function": {"name": "lookup", "arguments": arguments}}
    return {"choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": None,
                                     "tool_calls": [call]}}]}


def test_openai_sends_the_requests_options_over_its_own() -> None:
    seen: list[dict[str, object]] = []
    model = _openai(_answer('{"city": "Oslo"}'), seen)

    response = model.generate(ModelRequest(HELLO, max_tokens=50))

    assert (seen[0]["max_tokens"], seen[0]["temperature"]) == (50, 0.7)
    assert response.tool_calls[0].args == {"city": "Oslo"}


def test_openai_tool_arguments_that_are_not_json_are_a_model_error() -> None:
    seen: list[dict[str, object]] = []
    model = _openai(_answer('{"city": '), seen)

    with pytest.raises(ModelError, match="tool arguments are not JSON") as caught:
        model.generate(ModelRequest(HELLO))

    assert caught.value.code == "bad_tool_input"
    assert len(seen) == 1  # not retried: the same request would get the same answer
