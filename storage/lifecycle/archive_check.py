"""Reading and checking an archive, whole, before an import writes anything.

:func:`check_archive` opens the zip, checks the manifest, every member's size and
SHA-256 against it (a member bigger than announced is refused before it is inflated),
parses every record as a store would check it, and checks that everything belongs to
the manifest's resource and that every ``archive:blobs/`` reference has its blob.
Before any of that, the zip's central directory is held to :data:`MAX_MEMBERS`,
:data:`MAX_RECORDS_BYTES` and :data:`MAX_RATIO` (a decompression bomb inflates nothing).
Any failure is an :class:`~storage.errors.ArchiveError` naming the member and line.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from storage.errors import ArchiveError, ValidationError
from storage.lifecycle.archive_format import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    RECORD_DOMAINS,
    Manifest,
    attachment_slots,
    blob_member,
    record_from_json,
    records_member,
    ref_sha,
)
from storage.records import Message, Resource, Score, Span, Thread, WorkflowRun

_CHUNK = 1024 * 1024

# Bounds on what an archive may make the check inflate, read from the zip's central
# directory before any member is opened (the sizes there are then held to: a member
# is read to at most one byte past its declared size).
MAX_MEMBERS = 200_000
"""Members of one archive (the manifest, six record members, the blobs)."""
MAX_RECORDS_BYTES = 512 * 1024 * 1024
"""One ``records/*.jsonl`` member, uncompressed: it is parsed in memory."""
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 256 * 1024 * 1024
"""An archive inflating past this floor may inflate to at most :data:`MAX_RATIO` times
its own size: a decompression bomb (deflate reaches about 1,000 to 1) is refused before
it is inflated, while real records and attachments (JSON compresses about 5 to 20
times, media hardly at all) are far below it."""
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
               NotImplementedError, RuntimeError, ValueError)


@dataclass
class CheckedArchive:
    """An archive that passed every check: its manifest and records, blobs left in the zip."""

    zip: zipfile.ZipFile
    manifest: Manifest
    resources: list[Resource] = field(default_factory=list)
    threads: list[Thread] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    runs: list[WorkflowRun] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)

    @property
    def resource_id(self) -> str:
        """The resource every record belongs to."""
        return self.manifest.resource_id

    def records(self, domain: str) -> list[Any]:
        """The records of one domain of :data:`RECORD_DOMAINS`."""
        return list(getattr(self, domain))

    def blob_chunks(self, sha256: str) -> Iterator[bytes]:
        """The bytes of blob ``sha256``, a chunk at a time, checked again as they are read.

        Raises:
            ArchiveError: the member changed since it was checked.
        """
        name = blob_member(sha256)
        digest = hashlib.sha256()
        try:
            with self.zip.open(name) as member:
                for chunk in iter(lambda: member.read(_CHUNK), b""):
                    digest.update(chunk)
                    yield chunk
        except _ZIP_ERRORS as exc:
            raise ArchiveError(f"unreadable ({exc})", member=name) from exc
        if digest.hexdigest() != sha256:
            raise ArchiveError("checksum differs from the manifest's", member=name)


def check_archive(source: IO[bytes]) -> CheckedArchive:
    """Open and check the archive in ``source`` (a seekable binary file).

    Raises:
        ArchiveError: not a zip, too many members or too many bytes once inflated
            (:func:`_check_bounds`), a bad manifest, a member missing, unlisted, of another
            size or checksum, a record that does not parse or fails validation, a record
            of another resource, a duplicate id, or a reference to a blob not archived.
    """
    try:
        archive = zipfile.ZipFile(source)
        infos = archive.infolist()
    except _ZIP_ERRORS as exc:
        raise ArchiveError(f"not a readable zip archive ({exc})") from exc
    _check_bounds(source, infos)
    names = Counter(info.filename for info in infos)
    twice = sorted(n for n, c in names.items() if c > 1)
    if twice:
        raise ArchiveError("member stored more than once", member=twice[0][:200])
    by_name = {info.filename: info for info in infos}
    if MANIFEST not in by_name:
        raise ArchiveError("no manifest.json: not a Stowage archive")
    manifest = Manifest.from_json(_read(archive, by_name[MANIFEST], MAX_MANIFEST_BYTES, None))
    listed = set(manifest.members)
    for name in sorted(set(by_name) - listed - {MANIFEST}):
        raise ArchiveError("member is not listed in the manifest", member=name[:200])
    for name in sorted(listed - set(by_name)):
        raise ArchiveError("listed in the manifest but missing", member=name)
    for domain in RECORD_DOMAINS:
        if records_member(domain) not in listed:
            raise ArchiveError("missing from the manifest", member=records_member(domain))
    checked = CheckedArchive(archive, manifest)
    for name, info in sorted(manifest.members.items()):
        if name.startswith("blobs/") and name != blob_member(info.sha256):
            raise ArchiveError("a blob's name is not its SHA-256", member=name)
        data = _read(archive, by_name[name], info.size, info.sha256)
        if name.startswith("records/"):
            domain = name[len("records/"):-len(".jsonl")]
            setattr(checked, domain, _parse(name, domain, data, manifest.counts[domain]))
    _check_ownership(checked)
    return checked


def _check_bounds(source: IO[bytes], infos: list[zipfile.ZipInfo]) -> None:
    """Refuse, from the central directory alone, an archive that would inflate too much."""
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(f"holds {len(infos)} members, more than the {MAX_MEMBERS} allowed")
    for info in infos:
        if info.filename.startswith("records/") and info.file_size > MAX_RECORDS_BYTES:
            raise ArchiveError(f"inflates to {info.file_size} bytes, more than the "
                               f"{MAX_RECORDS_BYTES} a records member may", member=info.filename)
    inflated = sum(info.file_size for info in infos)
    try:
        size = source.seek(0, 2)
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"not a readable zip archive ({exc})") from exc
    if inflated > max(RATIO_FLOOR_BYTES, MAX_RATIO * size):
        raise ArchiveError(f"inflates to {inflated} bytes from {size}: more than "
                           f"{MAX_RATIO} times its size (a decompression bomb?)")


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, size: int, sha: str | None) -> bytes:
    """A member's bytes (blobs are hashed and dropped), after checking size and SHA-256."""
    name = info.filename
    if sha is None:
        if info.file_size > size:
            raise ArchiveError(f"larger than {size} bytes", member=name)
    elif info.file_size != size:
        raise ArchiveError(f"is {info.file_size} bytes, the manifest says {size}", member=name)
    keep = not name.startswith("blobs/")
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    total = 0
    try:
        with archive.open(info) as member:
            # Read at most one byte past the announced size: a lying header inflates no more.
            while chunk := member.read(min(_CHUNK, size + 1 - total)):
                total += len(chunk)
                if total > size:
                    raise ArchiveError(f"holds more than the {size} bytes announced", member=name)
                digest.update(chunk)
                if keep:
                    chunks.append(chunk)
    except _ZIP_ERRORS as exc:
        raise ArchiveError(f"unreadable or corrupt ({exc})", member=name) from exc
    if sha is not None and digest.hexdigest() != sha:
        raise ArchiveError("checksum differs from the manifest's", member=name)
    return b"".join(chunks)


def _parse(name: str, domain: str, data: bytes, count: int) -> list[Any]:
    if data and not data.endswith(b"\n"):
        raise ArchiveError("the last record is not ended by a newline", member=name)
    lines = data.split(b"\n")[:-1] if data else []
    if len(lines) != count:
        raise ArchiveError(f"holds {len(lines)} records, the manifest counts {count}", member=name)
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(record_from_json(domain, json.loads(line)))
        except (ValueError, TypeError, RecursionError) as exc:
            # ValidationError is a ValueError, as is a JSON syntax error.
            reason = str(exc) if isinstance(exc, ValidationError) else f"not JSON ({exc})"
            raise ArchiveError(reason[:300], member=name, line=number) from exc
    return records


def _check_ownership(a: CheckedArchive) -> None:
    """Every record is the manifest resource's; ids are unique; references resolve."""
    rid = a.resource_id

    def bad(domain: str, index: int, message: str) -> ArchiveError:
        return ArchiveError(message, member=records_member(domain), line=index + 1)

    for i, resource in enumerate(a.resources):
        if resource.id != rid or i > 0:
            raise bad("resources", i, "not the manifest's resource (or a second one)")
    _unique("threads", [t.id for t in a.threads])
    _unique("messages", [m.id for m in a.messages])
    _unique("runs", [(r.workflow_name, r.run_id) for r in a.runs])
    _unique("spans", [(s.trace_id, s.span_id) for s in a.spans])
    _unique("scores", [s.id for s in a.scores])
    for i, thread in enumerate(a.threads):
        if thread.resource_id != rid:
            raise bad("threads", i, f"thread {thread.id!r} belongs to another resource")
    threads = {t.id for t in a.threads}
    blobs = {name[len("blobs/"):] for name in a.manifest.members if name.startswith("blobs/")}
    for i, message in enumerate(a.messages):
        if message.thread_id not in threads:
            raise bad("messages", i, f"message {message.id!r} is in a thread not archived")
        if message.resource_id not in (None, rid):
            raise bad("messages", i, f"message {message.id!r} belongs to another resource")
        for holder, key, _ in attachment_slots(message.content):
            sha = ref_sha(holder[key])
            if sha is not None and sha not in blobs:
                raise bad("messages", i, f"message {message.id!r} names a blob not archived")
    for i, run in enumerate(a.runs):
        if run.resource_id != rid:
            raise bad("runs", i, f"run {run.run_id!r} belongs to another resource")
    rooted = {s.trace_id for s in a.spans if s.parent_span_id is None and s.resource_id == rid}
    for i, span in enumerate(a.spans):
        if span.resource_id not in (None, rid) or span.trace_id not in rooted:
            raise bad("spans", i, f"span {span.span_id!r} is not in a trace of the resource")
    for i, score in enumerate(a.scores):
        if score.resource_id != rid:
            raise bad("scores", i, f"score {score.id!r} belongs to another resource")


def _unique(domain: str, ids: list[Any]) -> None:
    seen: set[Any] = set()
    for i, key in enumerate(ids):
        if key in seen:
            raise ArchiveError(f"id {key!r} appears twice", member=records_member(domain),
                               line=i + 1)
        seen.add(key)
