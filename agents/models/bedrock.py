"""Amazon Bedrock through the Converse and ConverseStream APIs (boto3).

System prompt, text, images, documents, video, tool use and tool results, usage and
stop reasons. The client retries throttling with botocore's adaptive mode; on top of
that, a call that fails before any output (a throttled or broken stream start) is
retried here with exponential backoff, so a caller never sees half an answer twice.

A request with a deadline (``ModelRequest.deadline``: the api function's generate)
goes through a client whose read timeout is the whole seconds left and which does
not retry by itself; the retries above stop when the time is spent. Without one (the
stream) the client allows a 300 s read, as a long answer needs.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

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

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
                 "image/gif": "gif", "image/webp": "webp"}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf", "text/csv": "csv", "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html", "text/plain": "txt", "text/markdown": "md",
}
VIDEO_FORMATS = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm",
                 "video/x-matroska": "mkv", "video/mpeg": "mpeg", "video/x-flv": "flv",
                 "video/x-ms-wmv": "wmv", "video/3gpp": "three_gp"}
STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool-calls",
    "max_tokens": "length", "model_context_window_exceeded": "length",
    "guardrail_intervened": "content-filter", "content_filtered": "content-filter",
}
# Error codes worth another try: HTTP-level (PascalCase) and in-stream (camelCase) names.
RETRYABLE = frozenset({
    "ThrottlingException", "throttlingException", "ServiceUnavailableException",
    "serviceUnavailableException", "InternalServerException", "internalServerException",
    "ModelNotReadyException", "modelStreamErrorException", "ModelStreamErrorException",
})
STREAM_ERRORS = ("internalServerException", "modelStreamErrorException", "validationException",
                 "throttlingException", "serviceUnavailableException")
_DOC_NAME = re.compile(r"[^A-Za-z0-9\s\-\(\)\[\]]")
READ_TIMEOUT = 300  # seconds: a long answer without a deadline (the stream)
BOUNDED_CLIENTS = 8  # deadline-bounded clients kept, one per whole second left


def from_name(name: str, **options: Any) -> BedrockModel:
    """``bedrock/<model-id>`` -> :class:`BedrockModel`."""
    return BedrockModel(name, **options)


class BedrockModel(BaseModel):
    """A Bedrock model (any model that supports Converse).

    Args:
        model_id: the model or inference profile id (``us.amazon.nova-lite-v1:0``...).
        client: a ``bedrock-runtime`` client (built once, lazily, when omitted).
        region: the client's region (default: the environment's).
        max_tokens: ``inferenceConfig.maxTokens``.
        temperature: ``inferenceConfig.temperature``.
        s3_locations: send attachments stored in S3 as ``s3Location`` instead of bytes
            (default: on for Amazon Nova models, which accept it).
        max_retries: extra attempts for a call that fails before any output.
        backoff: the first retry's delay in seconds (doubles each time, with jitter).
        sleep: the sleep function (tests pass a recorder).
    """

    def __init__(
        self,
        model_id: str,
        *,
        client: Any = None,
        region: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        s3_locations: bool | None = None,
        max_retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model_id = model_id
        self.id = f"bedrock/{model_id}"
        self._client = client
        self._injected = client is not None
        self._bounded: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.region = region
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.s3_locations = "nova" in model_id if s3_locations is None else s3_locations
        self.retry = Retry(max_retries, backoff, sleep, _model_error, self.id)

    @property
    def client(self) -> Any:
        """The ``bedrock-runtime`` client, with adaptive retries and a 300 s read."""
        if self._client is None:
            from botocore.config import Config

            config = Config(retries={"mode": "adaptive", "max_attempts": 6},
                            read_timeout=READ_TIMEOUT)
            self._client = self._new_client(config)
        return self._client

    def client_for(self, request: ModelRequest) -> Any:
        """The client for ``request``: bounded by its deadline when it has one.

        An injected client (tests, custom configuration) is used as given: its calls
        are then bounded by the retries' deadline checks only.
        """
        left = time_left(request.deadline)
        if left is None or self._injected:
            return self.client
        seconds = max(1, math.floor(left))
        with self._lock:
            bounded = self._bounded.get(seconds)
            if bounded is not None:
                self._bounded.move_to_end(seconds)
                return bounded
        from botocore.config import Config

        # Botocore's own retries would not know the deadline: Retry does them instead.
        config = Config(retries={"mode": "standard", "total_max_attempts": 1},
                        read_timeout=seconds, connect_timeout=min(seconds, 10))
        bounded = self._new_client(config)
        with self._lock:
            self._bounded[seconds] = bounded
            while len(self._bounded) > BOUNDED_CLIENTS:
                self._bounded.popitem(last=False)
        return bounded

    def _new_client(self, config: Any) -> Any:
        import boto3

        with self._lock:
            return boto3.client("bedrock-runtime", region_name=self.region, config=config)

    # --- requests -------------------------------------------------------------

    def build_request(self, request: ModelRequest) -> dict[str, Any]:
        """The keyword arguments of ``converse`` / ``converse_stream``."""
        kwargs: dict[str, Any] = {"modelId": self.model_id,
                                  "messages": self._messages(request.messages)}
        if request.system:
            kwargs["system"] = [{"text": request.system}]
        inference: dict[str, Any] = {}
        max_tokens, temperature = sampling(
            request, max_tokens=self.max_tokens, temperature=self.temperature)
        if max_tokens:
            inference["maxTokens"] = max_tokens
        if temperature is not None:
            inference["temperature"] = temperature
        if inference:
            kwargs["inferenceConfig"] = inference
        if request.tools:
            kwargs["toolConfig"] = {"tools": [
                {"toolSpec": {"name": t.name, "description": t.description,
                              "inputSchema": {"json": dict(t.parameters)}}}
                for t in request.tools
            ]}
        return kwargs

    def _messages(self, messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for message in messages:
            role = "assistant" if message.role == "assistant" else "user"
            blocks = [b for b in (self._block(p, n) for n, p in enumerate(message.parts)) if b]
            if not blocks:
                continue
            # Converse wants user and assistant turns to alternate: merge neighbours.
            if out and out[-1]["role"] == role:
                out[-1]["content"].extend(blocks)
            else:
                out.append({"role": role, "content": blocks})
        return out

    def _block(self, part: Any, index: int) -> dict[str, Any] | None:
        if isinstance(part, TextPart):
            return {"text": part.text} if part.text else None
        if isinstance(part, ToolCall):
            return {"toolUse": {"toolUseId": part.id, "name": part.name, "input": part.args}}
        if isinstance(part, ToolResult):
            result = part.result
            content = ([{"json": result}] if isinstance(result, dict)
                       else [{"text": result}] if isinstance(result, str)
                       else [{"json": {"result": result}}])
            block: dict[str, Any] = {"toolUseId": part.id, "content": content}
            if part.is_error:
                block["status"] = "error"
            return {"toolResult": block}
        if isinstance(part, FilePart):
            return self._file_block(part, index)
        return None

    def _file_block(self, part: FilePart, index: int) -> dict[str, Any] | None:
        mime = part.media_type.lower()
        if self.s3_locations and part.uri and part.uri.startswith("s3://"):
            source: dict[str, Any] = {"s3Location": {"uri": part.uri}}
        elif part.data is not None:
            source = {"bytes": part.data}
        else:
            log.warning("attachment skipped: Bedrock needs bytes or an s3:// URI mime=%s", mime)
            return None
        if mime in IMAGE_FORMATS:
            return {"image": {"format": IMAGE_FORMATS[mime], "source": source}}
        if mime in VIDEO_FORMATS:
            return {"video": {"format": VIDEO_FORMATS[mime], "source": source}}
        fmt = DOCUMENT_FORMATS.get(mime)
        if fmt is None:
            log.warning("attachment skipped: Bedrock does not read %s", mime)
            return None
        # Document names: letters, digits, single spaces, hyphens, parentheses, brackets.
        stem = (part.name or "document").rsplit(".", 1)[0]
        name = " ".join(_DOC_NAME.sub("-", stem).split())[:60] or "document"
        return {"document": {"format": fmt, "name": f"{name}-{index}", "source": source}}

    # --- calls ----------------------------------------------------------------

    def generate(self, request: ModelRequest) -> ModelResponse:
        """One ``converse`` call."""
        kwargs = self.build_request(request)
        client = self.client_for(request)
        response = self.retry.call(lambda: client.converse(**kwargs), deadline=request.deadline)
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in response.get("output", {}).get("message", {}).get("content", []):
            if "text" in block:
                texts.append(block["text"])
            elif "toolUse" in block:
                use = block["toolUse"]
                calls.append(ToolCall(use["toolUseId"], use["name"], dict(use.get("input") or {})))
        return ModelResponse(
            text="".join(texts),
            tool_calls=tuple(calls),
            usage=_usage(response.get("usage")),
            finish_reason=STOP_REASONS.get(response.get("stopReason", ""), "other"),
        )

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        """``converse_stream``; a failure before the first event is retried."""
        kwargs = self.build_request(request)
        client = self.client_for(request)
        return self.retry.stream(lambda: self._events(client.converse_stream(**kwargs)),
                                 deadline=request.deadline)

    def _events(self, response: Mapping[str, Any]) -> Iterator[ModelEvent]:
        stream = response["stream"]
        pending: dict[int, dict[str, Any]] = {}
        stop = "end_turn"
        usage = Usage()
        for event in stream:
            if "contentBlockStart" in event:
                start = event["contentBlockStart"].get("start", {})
                if "toolUse" in start:
                    index = event["contentBlockStart"].get("contentBlockIndex", 0)
                    pending[index] = {"id": start["toolUse"]["toolUseId"],
                                      "name": start["toolUse"]["name"], "input": []}
            elif "contentBlockDelta" in event:
                delta = event["contentBlockDelta"].get("delta", {})
                index = event["contentBlockDelta"].get("contentBlockIndex", 0)
                if "text" in delta:
                    if delta["text"]:
                        yield TextDelta(delta["text"])
                elif "toolUse" in delta and index in pending:
                    pending[index]["input"].append(delta["toolUse"].get("input", ""))
            elif "contentBlockStop" in event:
                index = event["contentBlockStop"].get("contentBlockIndex", 0)
                if index in pending:
                    yield ToolCallEvent(_tool_call(pending.pop(index)))
            elif "messageStop" in event:
                stop = event["messageStop"].get("stopReason", stop)
            elif "metadata" in event:
                usage = _usage(event["metadata"].get("usage"))
            else:
                for code in STREAM_ERRORS:
                    if code in event:
                        message = str((event[code] or {}).get("message", code))
                        raise ModelError(message, code=code, retryable=code in RETRYABLE)
        for leftover in pending.values():  # a block without its stop event
            yield ToolCallEvent(_tool_call(leftover))
        yield Finish(STOP_REASONS.get(stop, "other"), usage)


def _tool_call(pending: Mapping[str, Any]) -> ToolCall:
    args = tool_args("".join(pending["input"]).strip(),
                     error=f"tool input of {pending['name']} is not JSON")
    return ToolCall(pending["id"], pending["name"], args)


def _usage(raw: Mapping[str, Any] | None) -> Usage:
    raw = raw or {}
    return Usage(int(raw.get("inputTokens", 0)), int(raw.get("outputTokens", 0)))


def _model_error(exc: Exception) -> ModelError:
    """Translate a botocore error (ClientError, EventStreamError, connection errors)."""
    if isinstance(exc, ModelError):
        return exc
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error", {})
        code = str(error.get("Code", "")) or type(exc).__name__
        message = str(error.get("Message", "")) or str(exc)
        return ModelError(f"bedrock {code}: {message}", code=code, retryable=code in RETRYABLE)
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:  # pragma: no cover - boto3 is a dependency
        BotoCoreError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, BotoCoreError):
        return ModelError(f"bedrock: {exc}", code=type(exc).__name__, retryable=True)
    raise exc
