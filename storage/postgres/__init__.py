"""PostgreSQL backend: Mastra's schema over psycopg 3 or the Aurora Data API.

URLs:
    ``postgresql://user:pw@host:5432/db`` (or ``postgres://``): psycopg 3, a pool in
    long-lived processes and one lazily opened connection in Lambda. Extra query
    parameters of ours: ``pool=true|false``, ``min_size``, ``max_size``; the others
    go to libpq (``sslmode=require`` ...).

    ``postgres+data-api://<cluster-arn>?secret=<secret-arn>&database=<db>&region=&endpoint=``:
    the RDS Data API over HTTPS (no VPC, no connection to manage). ``resume_wait=<s>``
    bounds how long one call waits for an auto-paused cluster to resume (request
    paths set a few seconds; past it: ``UnavailableError`` with ``retry_after``).

    Both: ``auto_migrate=false`` never runs the migrations on first use (a deployed
    function whose schema the deploy migrated); an explicit ``setup()`` still does.
    ``vector_dimensions=N`` (else ``STOWAGE_VECTOR_DIMENSIONS``): ``setup()`` also
    creates pgvector's extension and the vectors table for ``N``-dimension vectors.
"""

from __future__ import annotations

import os
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlunsplit

from storage.errors import ValidationError
from storage.postgres.store import PostgresStore
from storage.urls import url_options
from storage.vector_rules import MAX_DIMENSIONS

OPTIONS = ("pool", "min_size", "max_size", "auto_migrate", "vector_dimensions")
"""Ours on a ``postgresql://`` URL; libpq's own connection keywords are accepted too."""
DATA_API_OPTIONS = ("secret", "database", "region", "endpoint", "resume_wait", "auto_migrate",
                    "vector_dimensions")


def _flag(value: str, name: str = "pool") -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValidationError(f"{name} must be true or false, got {value!r}")


def _auto_migrate(params: dict[str, str]) -> bool:
    return _flag(params["auto_migrate"], "auto_migrate") if "auto_migrate" in params else True


def _dimensions(params: dict[str, str]) -> int | None:
    raw = params.get("vector_dimensions") or os.environ.get("STOWAGE_VECTOR_DIMENSIONS")
    if not raw:
        return None
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_DIMENSIONS:
        raise ValidationError(f"vector_dimensions must be an integer in 1..{MAX_DIMENSIONS}, "
                              f"got {raw!r}")
    return int(raw)


def _seconds(params: dict[str, str], name: str) -> float | None:
    if not params.get(name):
        return None
    try:
        value = float(params[name])
    except ValueError as exc:
        raise ValidationError(f"{name} must be a number of seconds") from exc
    if not 0 <= value <= 900:
        raise ValidationError(f"{name} must be 0..900 seconds, got {value}")
    return value


def _int(params: dict[str, str], name: str, default: int) -> int:
    try:
        return int(params.get(name, default))
    except ValueError as exc:
        raise ValidationError(f"{name} must be an integer") from exc


def _libpq_keywords() -> list[str]:
    """Every connection keyword the installed libpq knows (``sslmode``, ``connect_timeout``...)."""
    from psycopg import pq

    return [option.keyword.decode() for option in pq.Conninfo.get_defaults()]


def open_url(parsed: SplitResult) -> PostgresStore:
    """Open ``postgresql://`` / ``postgres://`` with psycopg 3."""
    from storage.postgres.psycopg_driver import PsycopgDriver

    if not parsed.path.strip("/"):
        raise ValidationError(f"PostgreSQL URL needs a database name: {parsed.scheme}://.../db")
    params = url_options(parsed, (*OPTIONS, *_libpq_keywords()))
    libpq_query = urlencode([(k, v) for k, v in parse_qsl(parsed.query) if k not in OPTIONS])
    conninfo = urlunsplit(("postgresql", parsed.netloc, parsed.path, libpq_query, ""))
    pool = _flag(params["pool"]) if "pool" in params else None
    driver = PsycopgDriver(
        conninfo,
        pool=pool,
        min_size=_int(params, "min_size", 1),
        max_size=_int(params, "max_size", 10),
    )
    return PostgresStore(driver, auto_migrate=_auto_migrate(params),
                         vector_dimensions=_dimensions(params))


def open_data_api_url(parsed: SplitResult) -> PostgresStore:
    """Open ``postgres+data-api://<cluster-arn>?secret=<secret-arn>&database=<db>``."""
    from storage.postgres.data_api import DataApiDriver

    arn = unquote(parsed.netloc + parsed.path).rstrip("/")
    params = url_options(parsed, DATA_API_OPTIONS)
    if not arn.startswith("arn:"):
        raise ValidationError(f"Data API URL must name a cluster ARN, got {arn!r}")
    secret = params.get("secret")
    database = params.get("database")
    if not secret or not database:
        raise ValidationError("Data API URL needs ?secret=<secret-arn>&database=<name>")
    driver = DataApiDriver(
        arn,
        secret,
        database,
        region=params.get("region") or None,
        endpoint=params.get("endpoint") or None,
        resume_wait=_seconds(params, "resume_wait"),
    )
    return PostgresStore(driver, auto_migrate=_auto_migrate(params),
                         vector_dimensions=_dimensions(params))




__all__ = ["PostgresStore", "open_data_api_url", "open_url"]
