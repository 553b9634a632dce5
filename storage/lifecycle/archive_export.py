"""``export_resource``: everything a store holds for one resource, as one zip archive.

The export reads through :class:`~storage.lifecycle.inventory.ResourceInventory`
(the domain protocols only, paged; the same enumeration erase deletes by), so it works
on every backend and composite: the resource and its working memory, its threads and
their messages, its runs, its traces (every span of each trace whose root span names
the resource) and its scores; and the bytes of every attachment its messages name in
the store's blob store. Offloaded attributes (DynamoDB) are read back transparently.
The export is not a snapshot: stop writers for an exact copy.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import IO, Any

from storage import validation as v
from storage.errors import NotFoundError, ValidationError
from storage.keys import is_attachment_of
from storage.lifecycle.archive_format import (
    MANIFEST,
    Manifest,
    MemberInfo,
    blob_member,
    blob_ref,
    dumps,
    map_attachments,
    record_to_json,
    records_member,
)
from storage.lifecycle.inventory import ResourceInventory
from storage.records import Message, Thread
from storage.timeutil import utcnow

log = logging.getLogger(__name__)
_CHUNK = 1024 * 1024


def source_kinds(store: Any) -> dict[str, str]:
    """The backend kind of each domain (``storage.sqlite.memory`` -> ``sqlite``)."""
    kinds = {}
    for domain in ("memory", "workflows", "observability", "scores", "blobs"):
        obj = getattr(store, domain, None)
        if obj is not None:
            module = type(obj).__module__.split(".")
            kinds[domain] = module[1] if len(module) > 1 and module[0] == "storage" else module[0]
    return kinds


def write_archive(store: Any, resource_id: str, out: IO[bytes]) -> Manifest:
    """Write the resource's archive to ``out`` (a writable binary file). Returns its manifest.

    Raises:
        ValidationError: a bad resource id.
    """
    v.check_id(resource_id, "resource id")
    writer = _Writer(store, resource_id)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        writer.write(archive)
    return writer.manifest


class _Writer:
    def __init__(self, store: Any, resource_id: str) -> None:
        self.store = store
        self.resource_id = resource_id
        self.members: dict[str, MemberInfo] = {}
        self.counts: dict[str, int] = {}
        self.content_types: dict[str, str] = {}
        self.blob_shas: dict[str, str] = {}  # source URI -> SHA-256 of its bytes
        self.manifest: Manifest

    def write(self, archive: zipfile.ZipFile) -> None:
        inventory = ResourceInventory(self.store, self.resource_id)
        resource = inventory.resource()
        self._records(archive, "resources", [resource] if resource is not None else [])
        thread_ids: list[str] = []

        def threads() -> Iterator[Thread]:
            for thread in inventory.threads():  # oldest first, ties by id
                thread_ids.append(thread.id)
                yield thread

        self._records(archive, "threads", threads())
        # Blobs are copied as the messages are read, so the messages member comes after.
        self._records(archive, "messages", self._messages(archive, inventory, thread_ids))
        # Each listing in the protocols' order, the same on every backend.
        self._records(archive, "runs", inventory.runs())
        self._records(archive, "spans", (
            span
            for root in inventory.traces()
            for span in inventory.spans(root.trace_id)
            if span.resource_id in (None, self.resource_id)
        ))
        self._records(archive, "scores", inventory.scores())
        self.counts["blobs"] = len(set(self.blob_shas.values()))
        self.manifest = Manifest(
            resource_id=self.resource_id,
            created_at=utcnow(),
            source=source_kinds(self.store),
            members=self.members,
            counts=self.counts,
            content_types=self.content_types,
        )
        archive.writestr(MANIFEST, self.manifest.to_json())

    def _messages(
        self, archive: zipfile.ZipFile, inventory: ResourceInventory, thread_ids: list[str]
    ) -> Iterator[Message]:
        for thread_id in thread_ids:
            for message in inventory.messages(thread_id):
                if message.resource_id not in (None, self.resource_id):
                    # Saved into this resource's thread for another resource by trusted
                    # code: the other resource's, and left out of this archive.
                    log.warning("export: message of another resource left out id=%s",
                                message.id)
                    continue
                yield self._portable(archive, message)

    # --- attachments ---------------------------------------------------------------------

    def _portable(self, archive: zipfile.ZipFile, message: Message) -> Message:
        """The message with its attachments in the blob store as ``archive:`` references."""
        blobs = self.store.blobs
        if blobs is None:
            return message

        def rewrite(value: str, content_type: str) -> str:
            try:
                key = blobs.key_of(value)
            except ValidationError:
                return value  # a data: URL, an https URL, another store's URI: kept as is
            if not is_attachment_of(key, self.resource_id):
                return value  # not this resource's bytes: never copied into its archive
            sha = self.blob_shas.get(value)
            if sha is None:
                try:
                    sha = self._blob(archive, value, content_type)
                except NotFoundError:
                    log.warning("export: attachment missing from the blob store key=%s", key)
                    return value
                self.blob_shas[value] = sha
            return blob_ref(sha)

        content = map_attachments(message.content, rewrite)
        return message if content == message.content else replace(message, content=content)

    def _blob(self, archive: zipfile.ZipFile, uri: str, content_type: str) -> str:
        """Copy one blob into the archive (once per distinct content). Returns its SHA-256."""
        blobs = self.store.blobs
        with tempfile.TemporaryFile() as buffer:
            digest = hashlib.sha256()
            source = blobs.open(uri)
            try:
                for chunk in iter(lambda: source.read(_CHUNK), b""):
                    digest.update(chunk)
                    buffer.write(chunk)
            finally:
                source.close()
            sha = digest.hexdigest()
            if blob_member(sha) not in self.members:
                buffer.seek(0)
                self._member(archive, blob_member(sha), buffer)
                stored_type = getattr(blobs, "content_type", None)
                known = stored_type(uri) if callable(stored_type) else None
                if known or content_type:
                    self.content_types[sha] = str(known or content_type)
        return sha

    # --- members --------------------------------------------------------------------------

    def _records(self, archive: zipfile.ZipFile, domain: str, records: Iterable[Any]) -> None:
        """Spool the records' lines (a blob may be copied in while they are read), then
        write them as one member."""
        count = 0
        with tempfile.SpooledTemporaryFile(max_size=8 * _CHUNK) as spool:
            for record in records:
                spool.write(dumps(record_to_json(record)).encode() + b"\n")
                count += 1
            spool.seek(0)
            self._member(archive, records_member(domain), spool)
        self.counts[domain] = count

    def _member(self, archive: zipfile.ZipFile, name: str, source: IO[bytes]) -> None:
        digest = hashlib.sha256()
        size = 0
        with archive.open(name, "w", force_zip64=True) as member:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
                member.write(chunk)
        self.members[name] = MemberInfo(digest.hexdigest(), size)


def copy_stream(source: IO[bytes], target: IO[bytes]) -> None:
    """Copy a binary stream a chunk at a time."""
    shutil.copyfileobj(source, target, _CHUNK)
