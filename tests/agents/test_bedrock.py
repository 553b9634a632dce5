"""Bedrock Converse / ConverseStream against a fake client with botocore's shapes."""

from __future__ import annotations

import pytest

from agents import Agent, ModelError
from agents.models import ChatMessage, FilePart, ModelRequest, TextPart, ToolSpec
from agents.models.bedrock import BedrockModel
from tests.agents.fakes import (
    FakeBedrockRuntime,
    client_error,
    converse_response,
    stream_error,
    text_events,
    tool_use_events,
)

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


def _model(client: FakeBedrockRuntime, **kwargs: object) -> tuple[BedrockModel, list[float]]:
    sleeps: list[float] = []
    model = BedrockModel(MODEL_ID, client=client, sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]
    return model, sleeps


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_generate_sends_system_text_and_tools_and_reads_usage() -> None:
    client = FakeBedrockRuntime(converse=[converse_response({"text": "Hi there"}, usage=(30, 4))])
    model, _ = _model(client, max_tokens=256)

    result = Agent(id="b", instructions="Be kind.", model=model, tools=[add]).generate("hello")

    assert result.text == "Hi there"
    assert result.usage.input_tokens == 30 and result.usage.output_tokens == 4
    op, request = client.calls[0]
    assert op == "converse"
    assert request["modelId"] == MODEL_ID
    assert request["system"] == [{"text": "Be kind."}]
    assert request["messages"] == [{"role": "user", "content": [{"text": "hello"}]}]
    assert request["inferenceConfig"] == {"maxTokens": 256}
    spec = request["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "add" and spec["inputSchema"]["json"]["required"] == ["a", "b"]


def test_generate_tool_use_round_trip() -> None:
    client = FakeBedrockRuntime(converse=[
        converse_response(
            {"text": "Adding."},
            {"toolUse": {"toolUseId": "tu-1", "name": "add", "input": {"a": 2, "b": 3}}},
            stop="tool_use",
        ),
        converse_response({"text": "It is 5."}),
    ])
    model, _ = _model(client)

    result = Agent(id="b", model=model, tools=[add]).generate("2+3?")

    assert result.text == "It is 5."
    assert result.tool_results[0].result == 5
    second = client.calls[1][1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"][1] == {"toolUse": {"toolUseId": "tu-1", "name": "add",
                                                   "input": {"a": 2, "b": 3}}}
    assert second[2]["content"] == [{"toolResult": {"toolUseId": "tu-1",
                                                    "content": [{"json": {"result": 5}}]}}]


def test_stream_text_deltas_and_stop_reason() -> None:
    events_in = text_events("Hel", "lo", " you", stop="max_tokens")
    client = FakeBedrockRuntime(converse_stream=[events_in])
    model, _ = _model(client)

    events = list(Agent(id="b", model=model).stream("hi"))

    assert [e.payload["text"] for e in events if e.type == "text-delta"] == ["Hel", "lo", " you"]
    finish = events[-1]
    assert finish.type == "finish"
    assert finish.payload["stepResult"]["reason"] == "length"
    assert finish.payload["output"]["usage"] == {"inputTokens": 12, "outputTokens": 7,
                                                 "totalTokens": 19}
    assert client.calls[0][0] == "converse_stream"


def test_stream_tool_use_assembled_from_fragments() -> None:
    client = FakeBedrockRuntime(converse_stream=[
        tool_use_events("tu-9", "add", ['{"a": 4', ', "b"', ": 5}"], text="Let me add."),
        text_events("Nine."),
    ])
    model, _ = _model(client)

    events = list(Agent(id="b", model=model, tools=[add]).stream("4+5"))

    call = next(e for e in events if e.type == "tool-call").payload
    assert call == {"toolCallId": "tu-9", "toolName": "add", "args": {"a": 4, "b": 5}}
    assert next(e for e in events if e.type == "tool-result").payload["result"] == 9
    assert events[-1].payload["output"]["text"] == "Nine."


def test_throttled_call_is_retried_then_succeeds() -> None:
    client = FakeBedrockRuntime(converse=[
        client_error("ThrottlingException", "Rate exceeded"),
        client_error("ThrottlingException", "Rate exceeded"),
        converse_response({"text": "finally"}),
    ])
    model, sleeps = _model(client)

    assert Agent(id="b", model=model).generate("x").text == "finally"
    assert len(client.calls) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.9 / 2  # backoff grows


def test_throttling_gives_up_after_max_retries() -> None:
    client = FakeBedrockRuntime(converse=[client_error("ThrottlingException")] * 3)
    model, _ = _model(client, max_retries=2)

    with pytest.raises(ModelError) as info:
        model.generate(ModelRequest((ChatMessage("user", (TextPart("x"),)),)))
    assert info.value.code == "ThrottlingException" and info.value.retryable
    assert len(client.calls) == 3


def test_validation_error_is_not_retried() -> None:
    client = FakeBedrockRuntime(converse=[client_error("ValidationException", "bad input")])
    model, sleeps = _model(client)
    with pytest.raises(ModelError, match="bad input"):
        model.generate(ModelRequest((ChatMessage("user", (TextPart("x"),)),)))
    assert sleeps == [] and len(client.calls) == 1


def test_stream_error_before_output_is_retried() -> None:
    client = FakeBedrockRuntime(converse_stream=[
        [stream_error("throttlingException", "slow down")],
        client_error("ServiceUnavailableException", operation="ConverseStream"),
        text_events("ok"),
    ])
    model, sleeps = _model(client)

    events = list(Agent(id="b", model=model).stream("x"))

    assert events[-1].type == "finish" and events[-1].payload["output"]["text"] == "ok"
    assert len(client.calls) == 3 and len(sleeps) == 2


def test_stream_error_after_output_ends_the_stream_with_an_error_event() -> None:
    items = [*text_events("partial ")[:2], stream_error("modelStreamErrorException", "broken")]
    client = FakeBedrockRuntime(converse_stream=[items])
    model, sleeps = _model(client)

    stream = Agent(id="b", model=model).stream("x")
    events = list(stream)

    assert [e.type for e in events][-2:] == ["text-delta", "error"]
    assert events[-1].payload["error"]["code"] == "modelStreamErrorException"
    assert len(client.calls) == 1 and sleeps == []  # never replayed after output was sent
    assert stream.result is None


def test_exception_event_in_stream_dict_form() -> None:
    items = [{"messageStart": {"role": "assistant"}},
             {"validationException": {"message": "too long"}}]
    model, _ = _model(FakeBedrockRuntime(converse_stream=[items]))
    with pytest.raises(ModelError, match="too long"):
        list(model.stream(ModelRequest((ChatMessage("user", (TextPart("x"),)),))))


def test_images_documents_and_s3_locations() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    request = ModelRequest((ChatMessage("user", (
        TextPart("see"),
        FilePart("image/png", data=png, uri="s3://bucket/attachments/u/t/abc"),
        FilePart("application/pdf", data=b"%PDF-1.4", name="Q3 report (final).v2.pdf"),
        FilePart("application/x-unknown", data=b"??"),
    )),), tools=(ToolSpec("noop", "does nothing", {"type": "object", "properties": {}}),))

    plain, _ = _model(FakeBedrockRuntime())
    blocks = plain.build_request(request)["messages"][0]["content"]
    assert blocks[1] == {"image": {"format": "png", "source": {"bytes": png}}}
    assert blocks[2]["document"]["format"] == "pdf"
    assert blocks[2]["document"]["name"] == "Q3 report (final)-v2-2"
    assert blocks[2]["document"]["source"] == {"bytes": b"%PDF-1.4"}
    assert len(blocks) == 3  # the unknown type is skipped, not sent

    nova = BedrockModel("us.amazon.nova-lite-v1:0", client=FakeBedrockRuntime())
    blocks = nova.build_request(request)["messages"][0]["content"]
    assert blocks[1]["image"]["source"] == {"s3Location": {"uri": "s3://bucket/attachments/u/t/abc"}}


def test_consecutive_same_role_messages_are_merged() -> None:
    model, _ = _model(FakeBedrockRuntime())
    request = ModelRequest((ChatMessage("user", (TextPart("a"),)),
                            ChatMessage("user", (TextPart("b"),))))
    assert model.build_request(request)["messages"] == [
        {"role": "user", "content": [{"text": "a"}, {"text": "b"}]}
    ]


def test_bedrock_model_by_name() -> None:
    agent = Agent(id="n", model=f"bedrock/{MODEL_ID}")
    assert agent.model.id == f"bedrock/{MODEL_ID}"
    assert agent.describe()["provider"] == "bedrock"
