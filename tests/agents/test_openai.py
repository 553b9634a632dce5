"""The OpenAI-compatible model against a local HTTP server speaking the real SSE format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agents import Agent, ModelError
from agents.models.openai import OpenAIModel


class _Server:
    """Answers ``POST /v1/chat/completions`` from a queue; records every request."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                server.requests.append(json.loads(self.rfile.read(length)))
                server.headers.append(dict(self.headers))
                status, body = server.replies.pop(0)
                if isinstance(body, list):  # a stream: one SSE event per chunk
                    self.send_response(status)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for chunk in body:
                        data = chunk if isinstance(chunk, str) else json.dumps(chunk)
                        self.wfile.write(f"data: {data}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def _shared_server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture
def server(_shared_server: _Server) -> _Server:
    _shared_server.replies.clear()
    _shared_server.requests.clear()
    _shared_server.headers.clear()
    return _shared_server


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                     "total_tokens": prompt + completion}}


def lookup(city: str) -> dict[str, Any]:
    """Population of a city."""
    return {"city": city, "population": 700_000}


def test_stream_text_over_sse(server: _Server) -> None:
    server.replies.append((200, [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hello"}),
        _chunk({"content": " world"}),
        _chunk({}, "stop"),
        _usage_chunk(11, 2),
    ]))
    model = OpenAIModel("gpt-test", base_url=server.base_url, api_key="sk-test")

    events = list(Agent(id="o", instructions="Be terse.", model=model).stream("hi"))

    assert [e.payload["text"] for e in events if e.type == "text-delta"] == ["Hello", " world"]
    assert events[-1].payload["output"]["usage"] == {"inputTokens": 11, "outputTokens": 2,
                                                     "totalTokens": 13}
    body = server.requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "system", "content": "Be terse."},
                                {"role": "user", "content": "hi"}]
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_streamed_tool_calls_and_second_turn(server: _Server) -> None:
    server.replies.append((200, [
        _chunk({"role": "assistant", "tool_calls": [
            {"index": 0, "id": "call_a", "type": "function",
             "function": {"name": "lookup", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}),
        _chunk({}, "tool_calls"),
    ]))
    server.replies.append((200, [_chunk({"content": "About 700k."}), _chunk({}, "stop")]))
    model = OpenAIModel("gpt-test", base_url=server.base_url)

    stream = Agent(id="o", model=model, tools=[lookup]).stream("How big is Oslo?")
    events = list(stream)

    call = next(e for e in events if e.type == "tool-call").payload
    assert call == {"toolCallId": "call_a", "toolName": "lookup", "args": {"city": "Oslo"}}
    assert stream.result is not None and stream.result.text == "About 700k."
    first, second = server.requests
    assert first["tools"][0]["function"]["name"] == "lookup"
    assert first["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert second["messages"][-2]["tool_calls"][0]["function"] == {
        "name": "lookup", "arguments": '{"city": "Oslo"}'}
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_a",
                                      "content": '{"city": "Oslo", "population": 700000}'}


def test_generate_without_streaming(server: _Server) -> None:
    server.replies.append((200, {
        "id": "c", "object": "chat.completion", "choices": [{
            "index": 0, "finish_reason": "length",
            "message": {"role": "assistant", "content": "Cut sho"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}))
    model = OpenAIModel("gpt-test", base_url=server.base_url)

    result = Agent(id="o", model=model).generate("long story")

    assert result.text == "Cut sho" and result.finish_reason == "length"
    assert result.usage.total_tokens == 8
    assert "stream" not in server.requests[0]


def test_http_error_becomes_model_error_after_retries(server: _Server) -> None:
    server.replies.extend([(429, {"error": {"message": "Rate limit", "type": "rate_limit"}})] * 3)
    sleeps: list[float] = []
    model = OpenAIModel("gpt-test", base_url=server.base_url, max_retries=2, sleep=sleeps.append)

    stream = Agent(id="o", model=model).stream("hi")
    events = list(stream)

    assert events[-1].type == "error"
    assert "Rate limit" in events[-1].payload["error"]["message"]
    assert isinstance(stream.error, ModelError) and stream.error.retryable
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_throttled_then_served(server: _Server) -> None:
    server.replies.append((503, {"error": {"message": "busy"}}))
    server.replies.append((200, [_chunk({"content": "fine"}), _chunk({}, "stop")]))
    sleeps: list[float] = []
    model = OpenAIModel("gpt-test", base_url=server.base_url, sleep=sleeps.append)

    assert Agent(id="o", model=model).stream("hi").text() == "fine"
    assert len(sleeps) == 1


def test_client_errors_are_not_retried(server: _Server) -> None:
    server.replies.append((400, {"error": {"message": "bad request", "code": "invalid"}}))
    sleeps: list[float] = []
    model = OpenAIModel("gpt-test", base_url=server.base_url, sleep=sleeps.append)
    with pytest.raises(ModelError, match="bad request"):
        Agent(id="o", model=model).generate("hi")
    assert sleeps == [] and len(server.requests) == 1


def test_error_chunk_mid_stream(server: _Server) -> None:
    server.replies.append((200, [_chunk({"content": "par"}),
                                 {"error": {"message": "overloaded", "code": "server_error"}}]))
    model = OpenAIModel("gpt-test", base_url=server.base_url)
    events = list(Agent(id="o", model=model).stream("hi"))
    assert [e.type for e in events][-2:] == ["text-delta", "error"]
    assert events[-1].payload["error"]["code"] == "server_error"


def test_base_url_and_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    agent = Agent(id="o", model="openai/gpt-4o-mini")
    assert agent.model.id == "openai/gpt-4o-mini"
    assert agent.model.base_url == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    assert agent.model.api_key == "from-env"  # type: ignore[attr-defined]


def test_images_are_sent_as_data_urls(server: _Server) -> None:
    server.replies.append((200, {"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "a cat"}}]}))
    model = OpenAIModel("gpt-test", base_url=server.base_url)
    Agent(id="o", model=model).generate([{"role": "user", "content": [
        {"type": "text", "text": "what is it?"},
        {"type": "image", "image": "data:image/png;base64,iVBORw0KGgo=", "mimeType": "image/png"},
    ]}])
    content = server.requests[0]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what is it?"}
    assert content[1] == {"type": "image_url",
                          "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
