"""The resource archive's format: members, manifest, records as JSON, blob references.

An archive is one **zip** file. Zip rather than tar because a reader can check and
read any member by name without reading the ones before it (the import reads the
archive twice: once to validate everything, once to write), and because each member's
size is declared in the central directory, so a member larger than its manifest
entry (a decompression bomb) is refused before a byte of it is inflated. Any unzip
tool opens it. Members::

    manifest.json                 format, version, resource, time, source, members, counts
    records/<domain>.jsonl        one record per line, domains of :data:`RECORD_DOMAINS`
    blobs/<sha256>                an attachment's bytes, named by their SHA-256

Records are serialised field by field from :mod:`storage.records` (datetimes as
``YYYY-MM-DDTHH:MM:SS.mmmZ``, which round-trips exactly since records keep
milliseconds), with sorted keys, so exporting the same records twice gives the same
bytes. In a message, an attachment of the resource (a ``file`` part's ``data``, an
``experimental_attachments`` entry's ``url``) that lives in the source's blob store is
written as ``archive:blobs/<sha256>``; the import puts the bytes into the target's
blob store and writes the target's URI there. Vectors are not archived: they belong
to an embedder, and the target re-embeds (see the README, "Moving a resource").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from storage import validation as v
from storage.blob_uris import check_content_type
from storage.errors import ArchiveError, ValidationError
from storage.records import Message, Resource, Score, Span, Thread, WorkflowRun
from storage.timeutil import from_iso, to_iso

FORMAT = "stowage-archive"
VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
BLOB_REF_PREFIX = "archive:blobs/"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

Record = Thread | Message | Resource | WorkflowRun | Span | Score
RECORD_TYPES: dict[str, type[Any]] = {
    "resources": Resource,
    "threads": Thread,
    "messages": Message,
    "runs": WorkflowRun,
    "spans": Span,
    "scores": Score,
}
RECORD_DOMAINS: tuple[str, ...] = tuple(RECORD_TYPES)
"""Record members in the order an import writes them."""


def records_member(domain: str) -> str:
    """``records/<domain>.jsonl``."""
    return f"records/{domain}.jsonl"


def blob_member(sha256: str) -> str:
    """``blobs/<sha256>``."""
    return f"blobs/{sha256}"


def blob_ref(sha256: str) -> str:
    """The reference a message holds in an archive instead of a blob URI."""
    return BLOB_REF_PREFIX + sha256


def ref_sha(value: object) -> str | None:
    """The SHA-256 an ``archive:blobs/<sha256>`` reference names, else ``None``."""
    if isinstance(value, str) and value.startswith(BLOB_REF_PREFIX):
        return value[len(BLOB_REF_PREFIX):]
    return None


# --- manifest --------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberInfo:
    """One member's checksum and size (bytes as stored, uncompressed)."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: what an archive holds and how to check it.

    Attributes:
        resource_id: the resource every record belongs to.
        created_at: when the export ran.
        source: the backend kind of each source domain (``{"memory": "sqlite", ...}``).
        members: every other member's SHA-256 and size.
        counts: records per domain and ``blobs``.
        content_types: a blob's content type by SHA-256, where the source knew it.
    """

    resource_id: str
    created_at: datetime
    source: dict[str, str]
    members: dict[str, MemberInfo]
    counts: dict[str, int]
    content_types: dict[str, str] = field(default_factory=dict)
    format: str = FORMAT
    version: int = VERSION

    def to_json(self) -> bytes:
        """The manifest as written (sorted keys, UTF-8)."""
        body = {
            "format": self.format,
            "version": self.version,
            "resource_id": self.resource_id,
            "created_at": to_iso(self.created_at),
            "source": self.source,
            "members": {n: {"sha256": m.sha256, "size": m.size} for n, m in self.members.items()},
            "counts": self.counts,
            "content_types": self.content_types,
            "vectors": "not archived: re-embed after import",
        }
        return dumps(body).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and check ``manifest.json``.

        Raises:
            ArchiveError: not JSON, another format or version, or a bad field (named).
        """
        def bad(message: str) -> ArchiveError:
            return ArchiveError(message, member=MANIFEST)

        try:
            body = json.loads(data)
        except RecursionError:
            raise bad("nested too deep to be a manifest") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad(f"not JSON ({exc})") from exc
        if not isinstance(body, dict):
            raise bad("not a JSON object")
        if body.get("format") != FORMAT:
            raise bad(f"format must be {FORMAT!r}, got {body.get('format')!r}")
        if body.get("version") != VERSION:
            raise bad(f"version {body.get('version')!r} is not supported (this reads {VERSION})")
        try:
            resource_id = v.check_id(body.get("resource_id"), "resource_id")
            created_at = _time(body.get("created_at"), "created_at")
        except ValidationError as exc:
            raise bad(str(exc)) from exc
        source = _str_map(body.get("source", {}), "source", bad)
        content_types = _str_map(body.get("content_types", {}), "content_types", bad)
        members: dict[str, MemberInfo] = {}
        raw_members = body.get("members")
        if not isinstance(raw_members, dict):
            raise bad("members must be an object")
        for name, info in raw_members.items():
            if not is_member_name(name):
                raise bad(f"member name {str(name)[:80]!r} is not one of the format's")
            if not isinstance(info, dict) or set(info) != {"sha256", "size"}:
                raise bad(f"members[{name!r}] must be {{sha256, size}}")
            sha, size = info["sha256"], info["size"]
            if not isinstance(sha, str) or not _SHA256.match(sha):
                raise bad(f"members[{name!r}].sha256 is not a lower-case SHA-256")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise bad(f"members[{name!r}].size is not a non-negative integer")
            members[name] = MemberInfo(sha, size)
        counts = body.get("counts")
        if not isinstance(counts, dict) or set(counts) != {*RECORD_DOMAINS, "blobs"}:
            raise bad(f"counts must name exactly {', '.join((*RECORD_DOMAINS, 'blobs'))}")
        for name, count in counts.items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise bad(f"counts[{name!r}] is not a non-negative integer")
        blobs = sum(1 for name in members if name.startswith("blobs/"))
        if counts["blobs"] != blobs:
            raise bad(f"counts['blobs'] is {counts['blobs']} but {blobs} blob members are listed")
        for sha, content_type in content_types.items():
            try:
                check_content_type(content_type)
            except ValidationError as exc:
                raise bad(f"content_types[{sha!r}]: {exc}") from exc
        return cls(resource_id, created_at, source, members, dict(counts), content_types)


def is_member_name(name: object) -> bool:
    """Whether ``name`` is a member name the format allows (besides the manifest)."""
    if not isinstance(name, str):
        return False
    if name.startswith("blobs/"):
        return bool(_SHA256.match(name[len("blobs/"):]))
    return name in {records_member(d) for d in RECORD_DOMAINS}


def _str_map(value: object, what: str, bad: Callable[[str], ArchiveError]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(x, str) for k, x in value.items()
    ):
        raise bad(f"{what} must be an object of strings")
    return dict(value)


# --- records ---------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept (one record per line)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def record_to_json(record: Record) -> dict[str, Any]:
    """Every field of the record by name; datetimes as ISO with milliseconds."""
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        out[f.name] = to_iso(value) if isinstance(value, datetime) else value
    return out


_TIME_FIELDS = frozenset({"created_at", "updated_at", "started_at", "ended_at"})
_OPTIONAL_TIMES = frozenset({"ended_at"})


def record_from_json(domain: str, body: object) -> Any:
    """The record a line holds, checked as a store would check it.

    Raises:
        ValidationError: not an object, a missing or unknown field, a time that does
            not parse, or a value the storage validation refuses.
    """
    cls = RECORD_TYPES[domain]
    if not isinstance(body, dict):
        raise ValidationError("a record must be a JSON object")
    names = {f.name for f in fields(cls)}
    if set(body) != names:
        missing, extra = sorted(names - set(body)), sorted(set(body) - names)
        raise ValidationError(f"fields differ from {cls.__name__}'s: missing {missing}, "
                              f"unknown {[str(x)[:40] for x in extra]}")
    values = dict(body)
    for name in names & _TIME_FIELDS:
        if values[name] is None and name in _OPTIONAL_TIMES:
            continue
        values[name] = _time(values[name], name)
    record = cls(**values)
    CHECKS[domain](record)
    return record


def _time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be an ISO timestamp string")
    try:
        return from_iso(value)
    except ValueError as exc:
        raise ValidationError(f"{what} {value[:40]!r} is not an ISO timestamp") from exc


def _check_resource(resource: Resource) -> None:
    v.check_id(resource.id, "resource id")
    v.check_optional_text(resource.working_memory, "working memory")
    v.check_metadata(resource.metadata, "resource metadata")


def _check_run(run: WorkflowRun) -> None:
    v.check_run(run.workflow_name, run.run_id, run.snapshot)
    v.check_id(run.status, "run status")
    if run.resource_id is not None:
        v.check_id(run.resource_id, "resource id")


def _check_thread(thread: Thread) -> None:
    v.check_thread(thread)


def _check_message(message: Message) -> None:
    v.check_message(message)


def _check_span(span: Span) -> None:
    v.check_span(span)


def _check_score(score: Score) -> None:
    v.check_score(score)


CHECKS: dict[str, Callable[[Any], None]] = {
    "resources": _check_resource,
    "threads": _check_thread,
    "messages": _check_message,
    "runs": _check_run,
    "spans": _check_span,
    "scores": _check_score,
}


# --- attachment references in messages ---------------------------------------------------


def attachment_slots(content: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """Where a message's content names an attachment: ``(holder, key, content type)``.

    A ``file`` part's ``data`` (type ``mimeType``) and an ``experimental_attachments``
    entry's ``url`` (type ``contentType``): the places ``AttachmentUploader`` writes blob
    URIs. ``holder[key]`` is the string; callers replace it in a copy of the content.
    """
    for part in content.get("parts") or []:
        if isinstance(part, dict) and part.get("type") == "file" and isinstance(
            part.get("data"), str
        ):
            yield part, "data", str(part.get("mimeType") or "")
    for att in content.get("experimental_attachments") or []:
        if isinstance(att, dict) and isinstance(att.get("url"), str):
            yield att, "url", str(att.get("contentType") or "")


def map_attachments(content: dict[str, Any], rewrite: Callable[[str, str], str]) -> dict[str, Any]:
    """A deep copy of ``content`` with each attachment string replaced by ``rewrite(value,
    content_type)`` (which returns the value unchanged to keep it)."""
    copy: dict[str, Any] = json.loads(dumps(content))
    for holder, key, content_type in attachment_slots(copy):
        holder[key] = rewrite(holder[key], content_type)
    return copy


__all__ = [
    "BLOB_REF_PREFIX",
    "FORMAT",
    "MANIFEST",
    "RECORD_DOMAINS",
    "VERSION",
    "Manifest",
    "MemberInfo",
    "attachment_slots",
    "blob_member",
    "blob_ref",
    "dumps",
    "map_attachments",
    "record_from_json",
    "record_to_json",
    "records_member",
    "ref_sha",
]
