"""``storage.open(url)``: one URL scheme per backend, imported only when used.

Lazy imports keep a Lambda cold start from loading drivers it does not use
(psycopg for a DynamoDB deployment, say).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from storage.errors import ValidationError

log = logging.getLogger(__name__)

# scheme -> "module:function"; the function takes the parsed URL and returns a store.
BACKENDS: dict[str, str] = {
    "memory": "storage.memory:open_url",
    "sqlite": "storage.sqlite:open_url",
    "file": "storage.files:open_url",
    "dynamodb": "storage.dynamodb:open_url",
    "s3": "storage.s3:open_url",
    "postgresql": "storage.postgres:open_url",
    "postgres": "storage.postgres:open_url",
    "postgres+data-api": "storage.postgres:open_data_api_url",
}


def open_url(url: str) -> Any:
    """Open the store a URL names.

    Examples: ``memory://``, ``sqlite:///.stowage/stowage.db`` (relative to the
    project root), ``sqlite:////var/data/x.db`` (absolute), ``file:///.stowage/blobs``,
    ``dynamodb://prefix?region=eu-west-1``, ``s3://bucket/prefix``,
    ``postgresql://user:pw@host/db``, ``postgres+data-api://<arn>?secret=<arn>&database=db``.

    Raises:
        ValidationError: the URL is malformed or names an unknown scheme.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValidationError(f"storage URL {url!r} must look like scheme://...")
    parsed = urlsplit(url)
    target = BACKENDS.get(parsed.scheme.lower())
    if target is None:
        raise ValidationError(
            f"unknown storage scheme {parsed.scheme!r}; known: {', '.join(sorted(BACKENDS))}"
        )
    module_name, func_name = target.split(":")
    factory: Callable[[SplitResult], Any] = getattr(importlib.import_module(module_name), func_name)
    return factory(parsed)


def url_options(parsed: SplitResult, known: Collection[str]) -> dict[str, str]:
    """The URL's query options as a flat dict (last value wins), all of them ``known``.

    Every backend declares its options once and calls this, so a misspelled option
    (``?timout=5``, ``?regoin=eu-west-1``) is refused instead of silently ignored.

    Raises:
        ValidationError: an option the backend does not know (each is named).
    """
    pairs = parse_qsl(parsed.query, keep_blank_values=True)
    unknown = sorted({name for name, _ in pairs if name not in known})
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        offered = ", ".join(sorted(known)) if len(known) <= 12 else "see the README"
        raise ValidationError(
            f"unknown {parsed.scheme}: URL option{'s' if len(unknown) > 1 else ''} {listed} "
            f"(known: {offered or 'none'})"
        )
    return dict(pairs)


def project_root() -> Path:
    """The folder holding ``pyproject.toml``: the installed tree's, else the cwd's ancestors.

    Falls back to the cwd. Relative storage paths resolve against this, never the
    cwd, so the dev server, the tests and a Mastra app share one file.
    """
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file():
        return here
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return cwd


def local_path(parsed: SplitResult) -> Path:
    """The filesystem path of a ``sqlite:`` or ``file:`` URL.

    ``scheme:///rel/path`` is relative to the project root; ``scheme:////abs/path``
    is absolute (SQLAlchemy's convention). A host part (``file://host/x``) is refused.
    """
    if parsed.netloc not in ("", "localhost"):
        raise ValidationError(f"{parsed.scheme} URL must not name a host: {parsed.geturl()!r}")
    raw = unquote(parsed.path)
    if not raw or raw == "/":
        raise ValidationError(f"{parsed.scheme} URL needs a path: {parsed.geturl()!r}")
    relative = raw[1:] if raw.startswith("/") else raw
    path = Path(relative).expanduser()
    if not path.is_absolute():
        path = project_root() / path
    return creatable(path, parsed.scheme)


def creatable(path: Path, scheme: str) -> Path:
    """``path`` (a database file, a blob folder) if Stowage may create it.

    Inside the project root missing folders are created (``.stowage/`` on first
    use). Elsewhere the folder that will hold it must already exist: a mistyped
    ``sqlite:////data/app.db`` is refused instead of creating ``/data`` at the
    filesystem root.

    Raises:
        ValidationError: outside the project root and its parent folder is missing.
    """
    resolved = Path(os.path.abspath(path))  # ".." folded, so it cannot climb out unseen
    if resolved.parent.is_dir() or resolved.is_relative_to(project_root()):
        return resolved
    raise ValidationError(
        f"{scheme}: the folder {str(resolved.parent)!r} does not exist; create it first "
        f"(Stowage creates missing folders only inside the project root {project_root()})"
    )
