"""Conversions: caller input -> Mastra format-2 content -> the model's chat messages.

Input may be a string, a list of strings, or Mastra / AI SDK message dicts
(``{"role", "content"}`` with string or parts content, ``experimental_attachments``).
Stored messages are format 2: ``{"format": 2, "parts": [...], "content"?,
"experimental_attachments"?}``; an assistant turn is one message whose parts are
separated per step by ``step-start`` and whose tool calls are ``tool-invocation``
parts in state ``result`` (what Mastra stores, so its playground renders ours).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.models.base import ChatMessage, FilePart, Part, TextPart, ToolCall, ToolResult
from storage.errors import ValidationError
from storage.records import Message

log = logging.getLogger(__name__)

BlobReader = Callable[[str], "bytes | None"]
BLOB_KEY_PREFIX = "attachments/"


@dataclass(frozen=True)
class Draft:
    """A message of the caller's input before it has an id and a thread."""

    role: str
    content: dict[str, Any]
    id: str | None = None


def normalize_input(value: object) -> list[Draft]:
    """Turn what a caller passes to ``generate`` into format-2 drafts.

    Raises:
        ValidationError: the input is empty or not one of the accepted shapes.
    """
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, Mapping):
        items = [value]
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = list(value)
    else:
        raise ValidationError(
            f"input must be a string, a message dict or a list of them, got {type(value).__name__}"
        )
    drafts = [_draft(item) for item in items]
    if not drafts:
        raise ValidationError("input must hold at least one message")
    return drafts


def _draft(item: object) -> Draft:
    if isinstance(item, str):
        return Draft("user", text_content(item))
    if isinstance(item, Message):
        return Draft(item.role, dict(item.content), item.id)
    if not isinstance(item, Mapping):
        raise ValidationError(f"a message must be a string or a dict, got {type(item).__name__}")
    role = item.get("role", "user")
    if role not in ("user", "assistant", "system"):
        raise ValidationError(f"input message role must be user, assistant or system, got {role!r}")
    raw = item.get("content")
    if isinstance(raw, Mapping) and raw.get("format") == 2:
        content = dict(raw)  # already Mastra format 2
    elif isinstance(raw, str):
        content = text_content(raw)
    elif isinstance(raw, Sequence):
        content = {"format": 2, "parts": [_part(p) for p in raw]}
        text = "".join(p["text"] for p in content["parts"] if p.get("type") == "text")
        if text:
            content["content"] = text
    elif raw is None and item.get("parts"):
        content = {"format": 2, "parts": [_part(p) for p in item["parts"]]}
    else:
        raise ValidationError("message content must be a string or a list of parts")
    attachments = item.get("experimental_attachments") or item.get("experimentalAttachments")
    if attachments:
        content["experimental_attachments"] = [_attachment(a) for a in attachments]
    msg_id = item.get("id")
    return Draft(str(role), content, msg_id if isinstance(msg_id, str) and msg_id else None)


def text_content(text: str) -> dict[str, Any]:
    """Format-2 content holding one text part."""
    return {"format": 2, "parts": [{"type": "text", "text": text}], "content": text}


def _part(part: object) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, Mapping):
        raise ValidationError(f"a content part must be a dict, got {type(part).__name__}")
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind in ("image", "file"):
        data = part.get("data") if kind == "file" else part.get("image", part.get("data"))
        mime = part.get("mimeType") or part.get("mediaType") or part.get("contentType")
        if not isinstance(data, str) or not data:
            raise ValidationError(f"a {kind} part needs its data as a URL or base64 string")
        if not mime:
            mime = _data_url_mime(data) or ("image/png" if kind == "image" else None)
        if not mime:
            raise ValidationError(f"a {kind} part needs a mimeType")
        out = {"type": "file", "data": data, "mimeType": mime}
        name = part.get("filename") or part.get("name")
        if isinstance(name, str):
            out["filename"] = name
        return out
    if kind in ("reasoning", "tool-invocation", "step-start", "source"):
        return dict(part)
    raise ValidationError(f"unknown content part type {kind!r}")


def _attachment(att: object) -> dict[str, Any]:
    if not isinstance(att, Mapping) or not isinstance(att.get("url"), str):
        raise ValidationError("an attachment must be a dict with a url")
    out: dict[str, Any] = {"url": att["url"]}
    mime = att.get("contentType") or att.get("mimeType") or _data_url_mime(att["url"])
    if mime:
        out["contentType"] = mime
    if isinstance(att.get("name"), str):
        out["name"] = att["name"]
    return out


# --- data URLs ---------------------------------------------------------------------


def _data_url_mime(url: str) -> str | None:
    if not url.startswith("data:"):
        return None
    header = url[5:].split(",", 1)[0]
    mime = header.split(";", 1)[0]
    return mime or None


def decode_data(value: str) -> bytes | None:
    """The bytes of a ``data:`` URL or a bare base64 string; ``None`` for any other URL.

    Raises:
        ValidationError: the value claims to be base64 but is not.
    """
    if value.startswith("data:"):
        header, sep, payload = value[5:].partition(",")
        if not sep:
            raise ValidationError("malformed data: URL (no comma)")
        if header.endswith(";base64"):
            return _b64(payload)
        from urllib.parse import unquote_to_bytes

        return unquote_to_bytes(payload)
    if not is_inline(value):
        return None
    return _b64(value)


def _b64(payload: str) -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("attachment data is not valid base64") from exc


def is_inline(value: str) -> bool:
    """True for a ``data:`` URL or bare base64 (bytes carried in the message itself).

    A blob key (``attachments/...``, as a presigned upload leaves it) is not inline,
    though every character of it may be valid base64.
    """
    if value.startswith("data:"):
        return True
    return "://" not in value and not value.startswith(("/", BLOB_KEY_PREFIX))


# --- stored messages -> chat messages ------------------------------------------------------


def to_chat(messages: Iterable[Message], read_blob: BlobReader) -> list[ChatMessage]:
    """Convert stored (or about-to-be-stored) messages into the model's chat messages.

    ``read_blob(uri)`` returns the bytes of a blob URI (``None`` if unavailable).
    System messages are skipped (the agent folds them into the system prompt).
    """
    chat: list[ChatMessage] = []
    for message in messages:
        if message.role == "user":
            parts = _user_parts(message.content, read_blob)
            if parts:
                chat.append(ChatMessage("user", tuple(parts)))
        elif message.role == "assistant":
            chat.extend(_assistant_messages(message.content))
    # A recall window may start mid-conversation; models want a user message first
    # (and refuse tool results whose call was cut off).
    while chat and chat[0].role != "user":
        chat.pop(0)
    return chat


def _user_parts(content: Mapping[str, Any], read_blob: BlobReader) -> list[Part]:
    parts: list[Part] = []
    for part in content.get("parts") or []:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "text" and part.get("text"):
            parts.append(TextPart(str(part["text"])))
        elif part.get("type") == "file":
            file = _file(str(part.get("data", "")), str(part.get("mimeType", "")),
                         part.get("filename"), read_blob)
            if file is not None:
                parts.append(file)
    if not parts and isinstance(content.get("content"), str) and content["content"]:
        parts.append(TextPart(content["content"]))
    for att in content.get("experimental_attachments") or []:
        if isinstance(att, Mapping) and isinstance(att.get("url"), str):
            file = _file(att["url"], str(att.get("contentType", "")), att.get("name"), read_blob)
            if file is not None:
                parts.append(file)
    return parts


def _file(url: str, mime: str, name: object, read_blob: BlobReader) -> FilePart | None:
    label = name if isinstance(name, str) else None
    mime = mime or _data_url_mime(url) or "application/octet-stream"
    if is_inline(url):
        return FilePart(mime, data=decode_data(url), name=label)
    if url.startswith(("http://", "https://")):
        return FilePart(mime, uri=url, name=label)  # a public URL: the provider decides
    data = read_blob(url)
    if data is None:
        log.warning("attachment %s could not be read; sent without it", url)
        return None
    return FilePart(mime, data=data, uri=url, name=label)


def _assistant_messages(content: Mapping[str, Any]) -> list[ChatMessage]:
    """Split an assistant turn at ``step-start`` into assistant + tool-result messages."""
    out: list[ChatMessage] = []
    steps: list[list[Mapping[str, Any]]] = [[]]
    for part in content.get("parts") or []:
        if isinstance(part, Mapping) and part.get("type") == "step-start":
            if steps[-1]:
                steps.append([])
        elif isinstance(part, Mapping):
            steps[-1].append(part)
    if not any(steps) and isinstance(content.get("content"), str):
        steps = [[{"type": "text", "text": content["content"]}]]
    for step in steps:
        said: list[Part] = []
        results: list[Part] = []
        for part in step:
            if part.get("type") == "text" and part.get("text"):
                said.append(TextPart(str(part["text"])))
            elif part.get("type") == "tool-invocation":
                inv = part.get("toolInvocation") or {}
                call_id, name = str(inv.get("toolCallId", "")), str(inv.get("toolName", ""))
                said.append(ToolCall(call_id, name, dict(inv.get("args") or {})))
                if inv.get("state") == "result":
                    result = inv.get("result")
                    is_error = isinstance(result, Mapping) and result.get("isError") is True
                    results.append(ToolResult(call_id, name, result, is_error))
                else:
                    # A call that never got a result (an interrupted run): the models
                    # refuse a dangling call, so answer it.
                    results.append(ToolResult(call_id, name, {"error": "no result"}, True))
        if said:
            out.append(ChatMessage("assistant", tuple(said)))
        if results:
            out.append(ChatMessage("tool", tuple(results)))
    return out


def system_text(drafts: Iterable[Draft]) -> str:
    """The text of the caller's system messages, joined."""
    texts = []
    for draft in drafts:
        if draft.role == "system":
            texts.append(Message("x", "x", "system", draft.content).text)
    return "\n\n".join(t for t in texts if t)
