"""``write_checked``: recreate a checked archive in a store, idempotently.

Nothing is written until the archive passed :func:`~storage.lifecycle.archive_check.check_archive`
and the target passed :func:`check_target` (every domain the archive fills exists;
no id of the archive lives in the target under another resource or thread). Then the
writes are upserts by id, in an order that never leaves a reference dangling: blobs
first (into the target's blob store, under the target's keys), the resource, each
thread and its messages (``save_messages(..., allow_move=False)``, so an id another
thread took meanwhile refuses the save atomically), runs, spans, scores. A crash
anywhere leaves a prefix of that work; running the import again completes it and
duplicates nothing. Records keep the times they were exported with: the protocols
that stamp times from the clock run under :func:`storage.timeutil.pinned_now`.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from storage.errors import (
    ArchiveError,
    ConflictError,
    MessageIdConflictError,
    ValidationError,
)
from storage.keys import attachment_key, is_attachment_of
from storage.lifecycle.archive_check import CheckedArchive
from storage.lifecycle.archive_format import map_attachments, records_member, ref_sha
from storage.records import Message, Thread
from storage.timeutil import pinned_now

log = logging.getLogger(__name__)

BATCH = 25
"""Messages per ``save_messages`` and spans per ``create_spans`` (within DynamoDB's
100-action transactions with the thread bump and locators)."""

_DOMAIN_OF = {
    "resources": "memory",
    "threads": "memory",
    "messages": "memory",
    "runs": "workflows",
    "spans": "observability",
    "scores": "scores",
}


@dataclass(frozen=True)
class ImportReceipt:
    """What an import wrote: counts per domain (and ``blobs``), never content.

    Attributes:
        resource_id: the resource imported.
        counts: records written per domain of the archive, and blobs put.
        seconds: wall time of the import, checks included.
    """

    resource_id: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def check_target(store: Any, archive: CheckedArchive) -> None:
    """Refuse a target that cannot take the archive, before anything is written.

    Raises:
        ValidationError: the archive has records of a domain the store lacks, or blobs
            and the store has no blob store.
        ArchiveError: a message names a blob of the target that is not one of the
            resource's attachments (:func:`check_blob_links`).
        MessageIdConflictError: a message id lives in another thread of the target.
        ConflictError: a thread, run, trace or score id belongs to another resource.
    """
    rid = archive.resource_id
    for domain, owner in _DOMAIN_OF.items():
        if archive.records(domain) and getattr(store, owner, None) is None:
            raise ValidationError(f"the target store has no {owner} domain for the {domain}")
    if _needed_blobs(archive) and store.blobs is None:
        raise ValidationError("the target store has no blob store for the archive's attachments")
    if store.blobs is not None:
        check_blob_links(store.blobs, archive)
    memory, workflows = store.memory, store.workflows
    for thread in archive.threads:
        found = memory.get_thread(thread.id)
        if found is not None and found.resource_id != rid:
            raise ConflictError(f"thread id {thread.id!r} belongs to another resource")
    threads = {m.id: m.thread_id for m in archive.messages}
    ids = list(threads)
    for start in range(0, len(ids), 100):
        for found in memory.get_messages(ids[start:start + 100]):
            if found.thread_id != threads[found.id]:
                raise MessageIdConflictError(found.id)
    for run in archive.runs:
        had = workflows.get_run(run.run_id, workflow_name=run.workflow_name)
        if had is not None and had.resource_id != rid:
            raise ConflictError(f"run id {run.run_id!r} belongs to another resource")
    for trace_id in sorted({s.trace_id for s in archive.spans}):
        spans = store.observability.get_trace(trace_id)
        if spans and not any(s.parent_span_id is None and s.resource_id == rid for s in spans):
            raise ConflictError(f"trace id {trace_id!r} belongs to another resource")
    for score in archive.scores:
        had = store.scores.get_score(score.id)
        if had is not None and had.resource_id != rid:
            raise ConflictError(f"score id {score.id!r} belongs to another resource")


def check_blob_links(blobs: Any, archive: CheckedArchive) -> None:
    """Refuse a message that names a blob of the target outside the resource's attachments.

    A message keeps any value the export could not turn into an ``archive:`` reference
    (a ``data:`` or ``https`` URL, another store's URI). One that the *target's* blob
    store reads as one of its own blobs, though, would link the imported resource to
    whatever lives there: another tenant's attachment, an export, an offloaded record.
    So every string of every message (attachment slots and any other string: the rule
    of the agent route's ``_check_blob_refs``) that the target's ``key_of`` accepts must
    name a key under ``attachments/<resource>/``: ownership is decided on the key the
    store would read, never on the URI's text (``storage.blob_uris``). A value the
    target cannot read as one of its blobs names nothing there and is kept.

    Raises:
        ArchiveError: naming ``records/messages.jsonl`` and the line.
    """
    for line, message in enumerate(archive.messages, 1):
        for value in _strings(message.content):
            if "://" not in value or ref_sha(value) is not None:
                continue
            try:
                key = blobs.key_of(value)
            except ValidationError:
                continue  # not a blob of the target: it cannot link to anything there
            if not is_attachment_of(key, archive.resource_id):
                raise ArchiveError(
                    f"message {message.id!r} names a blob of the target store outside the "
                    "resource's attachments", member=records_member("messages"), line=line)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value (iterative: content is already depth-checked)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def write_checked(store: Any, archive: CheckedArchive) -> dict[str, int]:
    """Write a checked archive into a checked target. Returns counts per domain.

    Raises:
        ConflictError: an id was taken by another resource between the check and the
            write (a thread or a message: refused atomically; nothing of the other
            resource is changed).
        ArchiveError: a blob member changed since it was checked.
    """
    counts: dict[str, int] = {}
    uris = _put_blobs(store, archive)
    counts["blobs"] = len(uris)
    memory = store.memory
    for resource in archive.resources:
        if memory.get_resource(resource.id) is None:
            with pinned_now(resource.created_at):
                memory.update_resource(resource.id)
        with pinned_now(resource.updated_at):
            memory.update_resource(resource.id, working_memory=resource.working_memory,
                                   metadata=resource.metadata)
    counts["resources"] = len(archive.resources)
    by_thread: dict[str, list[Message]] = defaultdict(list)
    for message in archive.messages:
        by_thread[message.thread_id].append(_with_uris(message, archive.resource_id, uris))
    for thread in archive.threads:
        _write_thread(memory, thread, by_thread.get(thread.id, []))
    counts["threads"] = len(archive.threads)
    counts["messages"] = len(archive.messages)
    for run in archive.runs:
        _write_run(store.workflows, run)
    counts["runs"] = len(archive.runs)
    for start in range(0, len(archive.spans), BATCH):
        store.observability.create_spans(archive.spans[start:start + BATCH])
    counts["spans"] = len(archive.spans)
    for score in archive.scores:
        store.scores.save_score(score)
    counts["scores"] = len(archive.scores)
    return counts


def _needed_blobs(archive: CheckedArchive) -> set[tuple[str, str]]:
    """``(thread id, sha256)`` of every attachment the messages name."""
    needed = set()
    for message in archive.messages:
        for _, _, sha in _refs(message):
            needed.add((message.thread_id, sha))
    return needed


def _refs(message: Message) -> list[tuple[Any, str, str]]:
    from storage.lifecycle.archive_format import attachment_slots

    return [
        (holder, key, sha)
        for holder, key, _ in attachment_slots(message.content)
        if (sha := ref_sha(holder[key])) is not None
    ]


def _put_blobs(store: Any, archive: CheckedArchive) -> dict[tuple[str, str], str]:
    """Put each attachment under the target's key for its thread. Returns the URIs."""
    uris: dict[tuple[str, str], str] = {}
    types = archive.manifest.content_types
    for thread_id, sha in sorted(_needed_blobs(archive)):
        key = attachment_key(archive.resource_id, thread_id, sha)
        with tempfile.TemporaryFile() as buffer:
            digest = hashlib.sha256()
            for chunk in archive.blob_chunks(sha):
                digest.update(chunk)
                buffer.write(chunk)
            if digest.hexdigest() != sha:  # pragma: no cover - blob_chunks checks it first
                raise ArchiveError("checksum differs", member=f"blobs/{sha}")
            buffer.seek(0)
            uris[(thread_id, sha)] = store.blobs.put(key, buffer, content_type=types.get(sha))
    return uris


def _with_uris(message: Message, resource_id: str, uris: dict[tuple[str, str], str]) -> Message:
    def rewrite(value: str, _type: str) -> str:
        sha = ref_sha(value)
        return value if sha is None else uris[(message.thread_id, sha)]

    content = map_attachments(message.content, rewrite)
    return message if content == message.content else replace(message, content=content)


def _write_thread(memory: Any, thread: Thread, messages: list[Message]) -> None:
    """The thread, then its messages; the thread's times restored exactly."""
    try:
        memory.save_thread(thread, if_absent=True)
    except ConflictError:
        found = memory.get_thread(thread.id)
        if found is not None and found.resource_id != thread.resource_id:
            raise ConflictError(f"thread id {thread.id!r} belongs to another resource") from None
        memory.save_thread(thread)  # ours, from an earlier run: brought back to the archive's
    # The save bumps the thread's updated_at to "now": now is the archived time.
    with pinned_now(thread.updated_at):
        for start in range(0, len(messages), BATCH):
            memory.save_messages(messages[start:start + BATCH], allow_move=False)
    if memory.get_thread(thread.id) != thread:
        memory.save_thread(thread)


def _write_run(workflows: Any, run: Any) -> None:
    had = workflows.get_run(run.run_id, workflow_name=run.workflow_name)
    if had is not None and had.created_at != run.created_at:
        # persist_snapshot keeps the first save's created_at: this resource's own run,
        # saved since the export, is replaced whole by the archived one.
        workflows.delete_run(run.workflow_name, run.run_id)
        had = None
    if had is None:
        with pinned_now(run.created_at):
            workflows.persist_snapshot(run.workflow_name, run.run_id, run.snapshot,
                                       resource_id=run.resource_id)
    with pinned_now(run.updated_at):
        workflows.persist_snapshot(run.workflow_name, run.run_id, run.snapshot,
                                   resource_id=run.resource_id)


def import_checked(store: Any, archive: CheckedArchive) -> ImportReceipt:
    """:func:`check_target`, then :func:`write_checked`; logs counts, never content."""
    started = time.monotonic()
    check_target(store, archive)
    counts = write_checked(store, archive)
    seconds = time.monotonic() - started
    log.info("import resource=%s counts=%s seconds=%.3f", archive.resource_id, counts, seconds)
    return ImportReceipt(archive.resource_id, counts, seconds)
