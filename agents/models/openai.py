"""OpenAI-compatible chat completions over httpx, streamed with server-sent events.

Works with any server speaking ``POST /chat/completions`` (OpenAI, vLLM, Ollama,
LiteLLM...). The base URL and key come from the arguments, else from
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from agents.deadline import time_left
from agents.models.base import (
    BaseModel,
    ChatMessage,
    FilePart,
    Finish,
    FinishReason,
    ModelError,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolResult,
    Usage,
)
from agents.models.provider import sampling, tool_args
from agents.models.retry import Retry

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop", "length": "length", "tool_calls": "tool-calls",
    "function_call": "tool-calls", "content_filter": "content-filter",
}
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def from_name(name: str, **options: Any) -> OpenAIModel:
    """``openai/<model>`` -> :class:`OpenAIModel`."""
    return OpenAIModel(name, **options)


class OpenAIModel(BaseModel):
    """A chat-completions model.

    Args:
        model: the model name sent in the request.
        base_url: the API root (``.../v1``); default ``OPENAI_BASE_URL`` or OpenAI's.
        api_key: the bearer token; default ``OPENAI_API_KEY`` (none is sent if unset).
        client: an ``httpx.Client`` to reuse (built once, lazily, when omitted).
        timeout: seconds per request.
        max_tokens: ``max_tokens`` of every request.
        temperature: ``temperature`` of every request.
        max_retries: extra attempts for a call that fails (429, 5xx, connection) before
            any output.
        backoff: the first retry's delay in seconds (doubles each time, with jitter).
        sleep: the sleep function (tests pass a recorder).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 120.0,
        max_tokens: int | None = None,
        temperature: float | None = None,
        max_retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.id = f"openai/{model}"
        root = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = root.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._client = client
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retry = Retry(max_retries, backoff, sleep, name=self.id)

    @property
    def client(self) -> httpx.Client:
        """The HTTP client."""
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def build_request(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body of ``POST /chat/completions``."""
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        for message in request.messages:
            messages.extend(_messages(message))
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if request.tools:
            body["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": dict(t.parameters)}}
                for t in request.tools
            ]
        max_tokens, temperature = sampling(
            request, max_tokens=self.max_tokens, temperature=self.temperature)
        if max_tokens:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def generate(self, request: ModelRequest) -> ModelResponse:
        """One non-streamed completion (retried on 429, 5xx and connection errors)."""
        body = self.build_request(request, stream=False)
        return self.retry.call(lambda: self._generate(body, request.deadline),
                               deadline=request.deadline)

    def _timeout(self, deadline: float | None) -> Any:
        """One request's timeout: the client's, or the time left before a deadline."""
        left = time_left(deadline)
        if left is None:
            return httpx.USE_CLIENT_DEFAULT
        return max(0.001, min(self.timeout, left))

    def _generate(self, body: dict[str, Any], deadline: float | None = None) -> ModelResponse:
        try:
            response = self.client.post(f"{self.base_url}/chat/completions", json=body,
                                        headers=self._headers(),
                                        timeout=self._timeout(deadline))
        except httpx.HTTPError as exc:
            raise ModelError(f"openai: {exc}", code=type(exc).__name__, retryable=True) from exc
        _check(response)
        data = response.json()
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], _args(c["function"].get("arguments")))
            for c in message.get("tool_calls") or []
        )
        return ModelResponse(
            text=message.get("content") or "",
            tool_calls=calls,
            usage=_usage(data.get("usage")),
            finish_reason=FINISH_REASONS.get(choice.get("finish_reason") or "", "other"),
        )

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        """A streamed completion: ``data: {...}`` lines until ``data: [DONE]``.

        A failure before the first event is retried; after it, it is final.
        """
        body = self.build_request(request, stream=True)
        return self.retry.stream(lambda: self._stream(body, request.deadline),
                                 deadline=request.deadline)

    def _stream(self, body: dict[str, Any], deadline: float | None = None
                ) -> Iterator[ModelEvent]:
        calls: dict[int, dict[str, Any]] = {}
        finish: FinishReason = "stop"
        usage = Usage()
        try:
            with self.client.stream("POST", f"{self.base_url}/chat/completions", json=body,
                                    headers=self._headers(),
                                    timeout=self._timeout(deadline)) as response:
                if response.status_code >= 400:
                    response.read()
                    _check(response)
                for data in _sse_data(response.iter_lines()):
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if "error" in chunk:
                        err = chunk["error"] or {}
                        raise ModelError(f"openai: {err.get('message', err)}",
                                         code=str(err.get("code") or err.get("type") or "error"))
                    if chunk.get("usage"):
                        usage = _usage(chunk["usage"])
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        if delta.get("content"):
                            yield TextDelta(delta["content"])
                        for frag in delta.get("tool_calls") or []:
                            slot = calls.setdefault(frag.get("index", 0),
                                                    {"id": "", "name": "", "args": []})
                            slot["id"] = frag.get("id") or slot["id"]
                            fn = frag.get("function") or {}
                            slot["name"] = fn.get("name") or slot["name"]
                            slot["args"].append(fn.get("arguments") or "")
                        if choice.get("finish_reason"):
                            finish = FINISH_REASONS.get(choice["finish_reason"], "other")
        except httpx.HTTPError as exc:
            raise ModelError(f"openai: {exc}", code=type(exc).__name__, retryable=True) from exc
        except json.JSONDecodeError as exc:
            raise ModelError("openai: malformed stream chunk", code="bad_chunk") from exc
        for index in sorted(calls):
            slot = calls[index]
            yield ToolCallEvent(ToolCall(slot["id"] or f"call_{index}", slot["name"],
                                         _args("".join(slot["args"]))))
        yield Finish(finish, usage)


def _messages(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {"role": "tool", "tool_call_id": p.id,
             "content": p.result if isinstance(p.result, str) else json.dumps(p.result)}
            for p in message.parts if isinstance(p, ToolResult)
        ]
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        calls = [p for p in message.parts if isinstance(p, ToolCall)]
        if calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": json.dumps(c.args)}}
                for c in calls
            ]
        return [out]
    files = [p for p in message.parts if isinstance(p, FilePart)]
    if not files:
        return [{"role": "user", "content": message.text}]
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, FilePart):
            content.append(_file(part))
    return [{"role": "user", "content": [c for c in content if c]}]


def _file(part: FilePart) -> dict[str, Any]:
    if part.data is not None:
        url = f"data:{part.media_type};base64,{base64.b64encode(part.data).decode()}"
    elif part.uri and part.uri.startswith(("http://", "https://")):
        url = part.uri
    else:
        return {}
    if part.media_type.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": "file", "file": {"filename": part.name or "file", "file_data": url}}


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined, comments skipped)."""
    buffer: list[str] = []
    for line in lines:
        if not line:
            if buffer:
                yield "\n".join(buffer)
                buffer = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            buffer.append(value[1:] if value.startswith(" ") else value)
    if buffer:
        yield "\n".join(buffer)


def _args(raw: object) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if not raw:
        return {}
    return tool_args(str(raw), error="openai: tool arguments are not JSON")


def _usage(raw: Mapping[str, Any] | None) -> Usage:
    raw = raw or {}
    return Usage(int(raw.get("prompt_tokens", 0) or 0), int(raw.get("completion_tokens", 0) or 0))


def _check(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("error", {})
        message = detail.get("message") if isinstance(detail, dict) else str(detail)
        code = detail.get("code") or detail.get("type") if isinstance(detail, dict) else None
    except (ValueError, AttributeError):
        message, code = response.text[:200], None
    raise ModelError(
        f"openai HTTP {response.status_code}: {message}",
        code=str(code or response.status_code),
        retryable=response.status_code in RETRYABLE_STATUS,
    )
