"""Reading CDK context values into Python values, and the error a bad one raises.

Context comes from ``cdk.json`` (JSON types) or ``cdk deploy -c key=value`` (strings),
so every reader accepts both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from storage.errors import ValidationError
from storage.lifecycle.retention import Retention


class ConfigError(ValueError):
    """A context value is missing, malformed or inconsistent with another."""


def check(ok: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``ok``."""
    if not ok:
        raise ConfigError(message)


def text(context: Mapping[str, Any], key: str) -> str | None:
    """A string, stripped; ``None`` when absent or empty."""
    value = context.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}")
    return value.strip()


def flag(context: Mapping[str, Any], key: str) -> bool:
    """A boolean, or one of ``true/1/yes/on`` and ``false/0/no/off`` (any case)."""
    value = context.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "true",
        "1",
        "yes",
        "on",
        "false",
        "0",
        "no",
        "off",
        "",
    ):
        return value.lower() in ("true", "1", "yes", "on")
    raise ConfigError(f"{key} must be true or false, got {value!r}")


def integer(context: Mapping[str, Any], key: str, default: int) -> int:
    """A non-negative integer (or its digits as a string); ``default`` when absent."""
    value = context.get(key, default)
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ConfigError(f"{key} must be an integer, got {value!r}")


def names(context: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A list in cdk.json, or a comma-separated string from ``-c``."""
    value = context.get(key)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise ConfigError(f"{key} must be a list of strings or a comma-separated string")
    if any(not item for item in items):
        raise ConfigError(f"{key} has an empty entry: {value!r}")
    return tuple(dict.fromkeys(items))


def retention(context: Mapping[str, Any], span_days: int) -> Retention:
    """``retention`` (an object, or ``threads=90d,...`` from ``-c``); spans default to
    ``spanRetentionDays``, as they expired before retention existed."""
    value = context.get("retention")
    try:
        if value is None or value == "":
            entries: dict[str, Any] = {}
        elif isinstance(value, str):
            entries = dict(Retention.entries(value, source="retention"))
        elif isinstance(value, Mapping):
            entries = dict(value)
        else:
            raise ConfigError("retention must be an object like {\"threads\": \"90d\"}")
        if "spans" not in entries:
            check(1 <= span_days <= 3650, "spanRetentionDays must be 1..3650")
            entries["spans"] = timedelta(days=span_days)
        return Retention.from_mapping(entries, source="retention")
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc
