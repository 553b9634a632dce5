"""Retention settings: how long each domain's records live, configured once.

One frozen :class:`Retention` names a maximum age per domain: idle ``threads`` (by
``updated_at``; a thread expires whole, with its messages, vectors and blobs), workflow
``runs`` (by ``created_at``), ``spans`` (by ``started_at``) and ``scores`` (by
``created_at``). ``None`` keeps that domain forever.

It is written the same way everywhere it is configured, as text
(``STOWAGE_RETENTION=threads=90d,runs=30d,spans=14d,scores=180d``) or as a mapping (the
CDK context's ``retention`` object): ``<domain>=<whole number><unit>`` with units
``s``, ``m``, ``h``, ``d``, ``w`` (``forever`` keeps the domain). Anything else, an
unknown domain or an age that does not parse, is refused with a
:class:`~storage.errors.ValidationError` (a ``ValueError``) that names it, so a typo
stops startup instead of silently keeping, or deleting, data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from storage.errors import ValidationError

ENV_VAR = "STOWAGE_RETENTION"
RETENTION_DOMAINS: tuple[str, ...] = ("threads", "runs", "spans", "scores")
"""The retention keys, each served by one storage domain (see :data:`STORAGE_DOMAIN`)."""

STORAGE_DOMAIN: dict[str, str] = {
    "threads": "memory",
    "runs": "workflows",
    "spans": "observability",
    "scores": "scores",
}
"""Retention key -> the storage domain whose records it ages out."""

FOREVER = "forever"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_AGE = re.compile(r"^([0-9]{1,9})\s*([smhdw])$")
# DynamoDB's TTL ignores expiry times more than five years in the past, and a longer
# age is a typo more often than a policy: a century is the longest accepted.
MAX_AGE = timedelta(days=36_500)


def parse_age(text: object, *, domain: str) -> timedelta | None:
    """``"90d"`` -> ``timedelta(days=90)``; ``"forever"`` -> ``None``.

    Raises:
        ValidationError: not ``<whole number><s|m|h|d|w>`` (naming ``domain``), zero,
            or longer than :data:`MAX_AGE`.
    """
    if isinstance(text, timedelta):
        return _checked(text, domain)
    if not isinstance(text, str):
        raise ValidationError(
            f"{domain}: the age must be text like 90d, got {text!r}"
        )
    cleaned = text.strip().lower()
    if cleaned == FOREVER:
        return None
    match = _AGE.match(cleaned)
    if match is None:
        raise ValidationError(
            f"{domain}: cannot parse the age {text!r} "
            "(expected a whole number and a unit s, m, h, d or w, e.g. 90d, or forever)"
        )
    return _checked(timedelta(seconds=int(match[1]) * _UNITS[match[2]]), domain)


def _checked(age: timedelta, domain: str) -> timedelta:
    if age <= timedelta(0):
        raise ValidationError(f"{domain}: the age must be positive, got {age}")
    if age > MAX_AGE:
        raise ValidationError(f"{domain}: an age of {age.days} days is over a century")
    return age


def format_age(age: timedelta | None) -> str:
    """The shortest text :func:`parse_age` reads back as ``age``."""
    if age is None:
        return FOREVER
    seconds = int(age.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Retention:
    """The maximum age of each domain's records; ``None`` keeps them forever.

    Example:
        >>> Retention.parse("threads=90d,spans=14d")
        Retention(threads=datetime.timedelta(days=90), runs=None, spans=..., scores=None)

    Attributes:
        threads: a thread whose ``updated_at`` is older expires whole (its messages,
            vectors, attachments and offloaded objects with it).
        runs: workflow runs older than this (``created_at``).
        spans: spans older than this (``started_at``).
        scores: scores older than this (``created_at``).
    """

    threads: timedelta | None = None
    runs: timedelta | None = None
    spans: timedelta | None = None
    scores: timedelta | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            age = getattr(self, field.name)
            if age is not None and not isinstance(age, timedelta):
                raise ValidationError(
                    f"retention {field.name}: expected a timedelta or None, got {age!r}"
                )
            if age is not None:
                _checked(age, field.name)

    # --- parsing -----------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | None, *, source: str = ENV_VAR) -> Retention:
        """``"threads=90d,runs=30d"`` (commas or whitespace between entries).

        Raises:
            ValidationError: an unknown domain, a domain given twice, an entry without
                ``=``, or an age that does not parse; the message names it (and
                ``source``, where the text came from).
        """
        return cls.from_mapping(cls.entries(text, source=source), source=source)

    @staticmethod
    def entries(text: str | None, *, source: str = ENV_VAR) -> dict[str, str]:
        """The ``domain -> age text`` pairs of a retention text, unchecked but for form."""
        if text is None or not text.strip():
            return {}
        entries: dict[str, str] = {}
        for entry in re.split(r"[,\s]+", text.strip()):
            if not entry:
                continue
            domain, sep, age = entry.partition("=")
            if not sep:
                raise ValidationError(
                    f"{source}: entry {entry!r} is not <domain>=<age> "
                    f"(domains: {', '.join(RETENTION_DOMAINS)})"
                )
            if domain.strip() in entries:
                raise ValidationError(f"{source}: {domain.strip()!r} is given twice")
            entries[domain.strip()] = age
        return entries

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "retention") -> Retention:
        """``{"threads": "90d", "spans": "14d"}`` (the CDK context's ``retention`` object).

        Raises:
            ValidationError: an unknown domain or an unparsable age, named.
        """
        if not isinstance(values, Mapping):
            raise ValidationError(f"{source} must be an object of <domain>: <age>")
        unknown = [k for k in values if k not in RETENTION_DOMAINS]
        if unknown:
            raise ValidationError(
                f"{source}: unknown domain {unknown[0]!r} "
                f"(known: {', '.join(RETENTION_DOMAINS)})"
            )
        try:
            return cls(**{k: parse_age(v, domain=k) for k, v in values.items()})
        except ValidationError as exc:
            raise ValidationError(f"{source}: {exc}") from exc

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Retention:
        """``STOWAGE_RETENTION`` (nothing set: keep everything)."""
        return cls.parse(environ.get(ENV_VAR))

    def __str__(self) -> str:
        """The ``STOWAGE_RETENTION`` text of the domains with an age (``""`` for none)."""
        return ",".join(f"{k}={format_age(v)}" for k, v in self.ages().items())

    # --- use -----------------------------------------------------------------------------

    def ages(self) -> dict[str, timedelta]:
        """The domains with an age, in :data:`RETENTION_DOMAINS` order."""
        ages = {d: getattr(self, d) for d in RETENTION_DOMAINS}
        return {d: age for d, age in ages.items() if age is not None}

    def __bool__(self) -> bool:
        """Whether any domain expires."""
        return bool(self.ages())

    def cutoff(self, domain: str, now: datetime) -> datetime | None:
        """Records of ``domain`` older than the returned instant have expired."""
        age = getattr(self, domain)
        return None if age is None else now - age

    def expires_at(self, domain: str, timestamp: datetime) -> int | None:
        """Epoch seconds at which a record stamped ``timestamp`` expires (DynamoDB's TTL).

        Rounded up, so a TTL never removes a record a second early.
        """
        age = getattr(self, domain)
        if age is None:
            return None
        moment = (timestamp + age).timestamp()
        whole = int(moment)
        return whole if whole == moment else whole + 1


__all__ = [
    "ENV_VAR",
    "FOREVER",
    "MAX_AGE",
    "RETENTION_DOMAINS",
    "STORAGE_DOMAIN",
    "Retention",
    "format_age",
    "parse_age",
]
