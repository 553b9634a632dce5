"""Records as Mastra's server renders them: camelCase JSON, ISO timestamps, list envelopes.

Stored messages hold blob URIs (``s3://``, ``file://``, ``memory://blobs/``), never
download URLs; :func:`message_json` renders each as a short-lived URL with
:class:`AttachmentLinks`, and only when the blob store's own parser
(``BlobStore.key_of``) puts it under the message's resource's attachments: no
spelling of another tenant's URI ever comes back signed.

A message's text is sent once: format-2 content keeps it in its ``text`` parts, and
``content.content`` (Mastra's optional plain-text copy) is left out when it only
repeats them. Lists are bounded in bytes as well as in count (:func:`page_json`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from handlers.errors import HTTPError
from handlers.sizes import PAGE_OVERHEAD, fitting, slice_within
from storage.blob_uris import attachment_key_of
from storage.errors import StorageError
from storage.records import Message, Page, Resource, Score, Span, Thread, WorkflowRun
from storage.timeutil import to_iso

log = logging.getLogger(__name__)

UrlFor = Callable[[str], "str | None"]
"""A blob URI -> its download URL, or ``None`` to leave the value as it is."""


class AttachmentLinks:
    """Download URLs for the attachments of stored messages.

    Args:
        blobs: the blob store the messages' attachments live in.
        expires_in: lifetime of each URL, seconds.
    """

    def __init__(self, blobs: Any, expires_in: int) -> None:
        self.blobs = blobs
        self.expires_in = expires_in

    def for_resource(self, resource_id: str | None) -> UrlFor:
        """A renderer that signs only ``resource_id``'s attachments (nothing for ``None``)."""

        def render(uri: str) -> str | None:
            if resource_id is None:
                return None
            try:
                attachment_key_of(self.blobs, uri, resource_id)
                url: str = self.blobs.url_for(uri, expires_in=self.expires_in)
            except StorageError:
                # Not this store's, not this resource's, or deleted: no link, and no hint why.
                log.info("shapes: no download URL for a blob reference")
                return None
            return url

        return render


def thread_json(thread: Thread) -> dict[str, Any]:
    """A thread: ``{id, resourceId, title, metadata, createdAt, updatedAt}``."""
    return {
        "id": thread.id,
        "resourceId": thread.resource_id,
        "title": thread.title,
        "metadata": thread.metadata,
        "createdAt": to_iso(thread.created_at),
        "updatedAt": to_iso(thread.updated_at),
    }


def message_json(message: Message, links: AttachmentLinks | None = None) -> dict[str, Any]:
    """A message in Mastra's DB shape, its own attachments rendered as download URLs."""
    content = message.content
    if links is not None:
        content = render_blob_urls(content, links.for_resource(message.resource_id))
    content = without_repeated_text(content)
    return {
        "id": message.id,
        "role": message.role,
        "content": content,
        "createdAt": to_iso(message.created_at),
        "threadId": message.thread_id or None,
        "resourceId": message.resource_id,
        "type": message.type,
    }


def without_repeated_text(content: dict[str, Any]) -> dict[str, Any]:
    """Format-2 content without ``content.content`` when its one text part already says it.

    Mastra keeps the plain text twice (``content.content`` and the ``text`` part), and
    sending both doubles every list. Mastra's ``MessageList`` falls back to the (last)
    text part when ``content.content`` is absent, so it is left out only when that
    fallback gives back exactly the same text: one text part, equal to it.
    """
    plain = content.get("content")
    parts = content.get("parts")
    if not isinstance(plain, str) or not plain or not isinstance(parts, list):
        return content
    texts = [p.get("text") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
    if texts != [plain]:
        return content
    return {k: v for k, v in content.items() if k != "content"}


def render_blob_urls(content: dict[str, Any], url_for: UrlFor) -> dict[str, Any]:
    """A copy of format-2 content whose attachment and file-part URIs are download URLs.

    A value ``url_for`` gives no URL for (inline data, a public URL, a blob that is
    not the resource's) is left as it is.
    """
    out = dict(content)
    attachments = content.get("experimental_attachments")
    if isinstance(attachments, list):
        out["experimental_attachments"] = [
            {**a, "url": _render(a.get("url"), url_for)} if isinstance(a, dict) else a
            for a in attachments
        ]
    parts = content.get("parts")
    if isinstance(parts, list):
        out["parts"] = [
            {**p, "data": _render(p.get("data"), url_for)}
            if isinstance(p, dict) and p.get("type") == "file"
            else p
            for p in parts
        ]
    return out


def _render(value: Any, url_for: UrlFor) -> Any:
    if not isinstance(value, str) or "://" not in value or value.startswith("data:"):
        return value
    url = url_for(value)
    return value if url is None else url


def resource_json(resource: Resource) -> dict[str, Any]:
    """A resource: ``{id, workingMemory, metadata, createdAt, updatedAt}``."""
    return {
        "id": resource.id,
        "workingMemory": resource.working_memory,
        "metadata": resource.metadata,
        "createdAt": to_iso(resource.created_at),
        "updatedAt": to_iso(resource.updated_at),
    }


def run_json(run: WorkflowRun) -> dict[str, Any]:
    """A workflow run as Mastra lists it."""
    return {
        "workflowName": run.workflow_name,
        "runId": run.run_id,
        "snapshot": run.snapshot,
        "status": run.status,
        "resourceId": run.resource_id,
        "createdAt": to_iso(run.created_at),
        "updatedAt": to_iso(run.updated_at),
    }


def span_json(span: Span) -> dict[str, Any]:
    """An AI span, Mastra's field names (with the ``status`` Studio's trace view reads)."""
    return {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "parentSpanId": span.parent_span_id,
        "name": span.name,
        "spanType": span.span_type,
        "isRootSpan": span.is_root,
        "startedAt": to_iso(span.started_at),
        "endedAt": to_iso(span.ended_at) if span.ended_at else None,
        "input": span.input,
        "output": span.output,
        "error": span.error,
        "attributes": span.attributes,
        "metadata": span.metadata,
        "entityType": span.entity_type,
        "entityId": span.entity_id,
        "entityName": span.entity_name,
        "resourceId": span.resource_id,
        "threadId": span.thread_id,
        "runId": span.run_id,
        "isEvent": False,
        "status": "error" if span.error else ("success" if span.ended_at else "running"),
        "createdAt": to_iso(span.started_at),
        "updatedAt": to_iso(span.ended_at) if span.ended_at else None,
    }


def score_json(score: Score) -> dict[str, Any]:
    """A score, Mastra's field names."""
    return {
        "id": score.id,
        "scorerId": score.scorer_id,
        "score": score.score,
        "reason": score.reason,
        "runId": score.run_id,
        "entityType": score.entity_type,
        "entityId": score.entity_id,
        "traceId": score.trace_id,
        "spanId": score.span_id,
        "input": score.input,
        "output": score.output,
        "metadata": score.metadata,
        "source": score.source,
        "resourceId": score.resource_id,
        "threadId": score.thread_id,
        "createdAt": to_iso(score.created_at),
    }


def page_json(key: str, page: Page[Any], render: Callable[[Any], dict[str, Any]],
              budget: int | None = None, *, exact_slice: bool = True) -> dict[str, Any]:
    """``{<key>: [...], total, page, perPage, hasMore}``; ``perPage`` is ``false`` for "all".

    A ``pagination`` object repeats the counts, the shape Mastra's scores and
    observability routes use.

    With a ``budget`` (bytes of the response), a page whose items would not fit stops
    early: it keeps the leading items that fit, ``hasMore`` is true, and ``page`` and
    ``perPage`` describe the slice actually returned (same first item, a smaller page
    size that divides its offset), so continuing from ``page + 1`` with that
    ``perPage`` misses nothing.

    Args:
        exact_slice: the items are exactly the page's slice; when they are not (a
            message list with ``include`` windows merged in), an oversize page is
            refused instead of cut.

    Raises:
        HTTPError: 413 when not even the first item fits, or when a page that cannot
            be cut is over the budget.
    """
    rendered = [render(item) for item in page.items]
    number, size, has_more = page.page, page.per_page, page.has_more
    if budget is not None:
        room = budget - PAGE_OVERHEAD
        kept = fitting(rendered, room)
        if kept < len(rendered):
            if kept == 0 or not exact_slice:
                raise HTTPError(413, _oversize(key, rendered, kept, room))
            offset = number * size if size is not None else 0
            size = slice_within(offset, kept)
            number, rendered, has_more = offset // size, rendered[:size], True
    counts = {
        "total": page.total,
        "page": number,
        "perPage": size if size is not None else False,
        "hasMore": has_more,
    }
    return {key: rendered, **counts, "pagination": counts}


def _oversize(key: str, rendered: list[dict[str, Any]], kept: int, room: int) -> str:
    if kept == 0:
        first = rendered[0].get("id") if isinstance(rendered[0], dict) else None
        which = f"the first of these {key} ({first!r})" if first else f"the first of these {key}"
        return (f"{which} alone is over the {room}-byte response budget; it cannot be sent "
                "in one response")
    return (f"these {key} are over the {room}-byte response budget; ask for fewer "
            "(a smaller perPage or smaller include windows)")


__all__ = [
    "AttachmentLinks",
    "message_json",
    "page_json",
    "render_blob_urls",
    "resource_json",
    "run_json",
    "score_json",
    "span_json",
    "thread_json",
    "without_repeated_text",
]
