"""Fakes with the real request/response shapes: a bedrock-runtime client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError, EventStreamError


def client_error(code: str, message: str = "", operation: str = "Converse") -> ClientError:
    """A ClientError as botocore raises it for an HTTP error response."""
    return ClientError({"Error": {"Code": code, "Message": message or code},
                        "ResponseMetadata": {"HTTPStatusCode": 429 if "Throttl" in code else 400}},
                       operation)


def stream_error(code: str, message: str = "") -> EventStreamError:
    """What botocore's EventStream raises when the stream carries an exception event."""
    return EventStreamError({"Error": {"Code": code, "Message": message or code}},
                            "ConverseStream")


def text_events(*pieces: str, stop: str = "end_turn", usage: tuple[int, int] = (12, 7)
                ) -> list[dict[str, Any]]:
    """The events of a streamed text answer, as boto3 yields them."""
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    events += [{"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}}
               for p in pieces]
    events += [
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": stop}},
        {"metadata": {"usage": {"inputTokens": usage[0], "outputTokens": usage[1],
                                "totalTokens": sum(usage)},
                      "metrics": {"latencyMs": 120}}},
    ]
    return events


def tool_use_events(tool_use_id: str, name: str, json_fragments: list[str],
                    text: str = "") -> list[dict[str, Any]]:
    """A streamed answer that asks for one tool, its input split in fragments."""
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    index = 0
    if text:
        events += [{"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}},
                   {"contentBlockStop": {"contentBlockIndex": 0}}]
        index = 1
    events.append({"contentBlockStart": {"start": {"toolUse": {"toolUseId": tool_use_id,
                                                              "name": name}},
                                         "contentBlockIndex": index}})
    events += [{"contentBlockDelta": {"delta": {"toolUse": {"input": f}},
                                      "contentBlockIndex": index}} for f in json_fragments]
    events += [
        {"contentBlockStop": {"contentBlockIndex": index}},
        {"messageStop": {"stopReason": "tool_use"}},
        {"metadata": {"usage": {"inputTokens": 20, "outputTokens": 9, "totalTokens": 29},
                      "metrics": {"latencyMs": 80}}},
    ]
    return events


class _Stream:
    """Iterates events; an exception in the list is raised where it stands (mid-stream)."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for item in self.items:
            if isinstance(item, BaseException):
                raise item
            yield item


class FakeBedrockRuntime:
    """A bedrock-runtime client: ``converse`` / ``converse_stream`` answer from queues.

    Each queue entry is a response dict (``converse``), a list of events
    (``converse_stream``) or an exception raised by the call itself.
    """

    def __init__(self, *, converse: list[Any] | None = None,
                 converse_stream: list[Any] | None = None) -> None:
        self.converse_queue = list(converse or [])
        self.stream_queue = list(converse_stream or [])
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def converse(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("converse", kwargs))
        item = self.converse_queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        return dict(item)

    def converse_stream(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("converse_stream", kwargs))
        item = self.stream_queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        return {"ResponseMetadata": {"HTTPStatusCode": 200}, "stream": _Stream(item)}


def converse_response(*blocks: dict[str, Any], stop: str = "end_turn",
                      usage: tuple[int, int] = (12, 7)) -> dict[str, Any]:
    """A ``converse`` response holding these content blocks."""
    return {
        "output": {"message": {"role": "assistant", "content": list(blocks)}},
        "stopReason": stop,
        "usage": {"inputTokens": usage[0], "outputTokens": usage[1],
                  "totalTokens": sum(usage)},
        "metrics": {"latencyMs": 100},
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
