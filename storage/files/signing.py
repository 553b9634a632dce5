"""Signed, expiring local download URLs for ``file://`` blobs (served by the dev server).

A URL is ``{base}/api/blobs/<key>?expires=<unix seconds>&signature=<hex>`` where the
signature is HMAC-SHA256 over ``"<key>\\n<expires>"``. The secret comes from
``STOWAGE_BLOB_URL_SECRET``, else from a random secret file kept in the blob folder
(created once, mode 0600), so every process sharing the folder signs alike.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
import time
from pathlib import Path

from storage.errors import UnavailableError

SECRET_ENV = "STOWAGE_BLOB_URL_SECRET"
PUBLIC_URL_ENV = "STOWAGE_PUBLIC_URL"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:4111"


def load_secret(secret_file: Path) -> bytes:
    """The signing secret: the environment's, else the folder's (created if missing)."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return from_env.encode("utf-8")
    try:
        return secret_file.read_bytes().strip()
    except FileNotFoundError:
        pass
    try:
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=secret_file.parent, prefix=".tmp-secret-")
        try:
            os.write(fd, secrets.token_hex(32).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() fails if another process won the race; then its secret is the one.
            os.link(temp, secret_file)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
        return secret_file.read_bytes().strip()
    except OSError as exc:
        raise UnavailableError(f"files: cannot create the URL secret {secret_file}: {exc}") from exc


def sign(secret: bytes, key: str, expires: int) -> str:
    """The hex HMAC-SHA256 of ``key`` and ``expires``."""
    message = f"{key}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify(
    secret: bytes, key: str, expires: int | str, signature: str, *, now: float | None = None
) -> bool:
    """Whether ``signature`` is valid for ``key`` and ``expires`` has not passed."""
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return False
    if expires_at < (time.time() if now is None else now):
        return False
    if not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(secret, key, expires_at), signature)


def public_base(explicit: str | None) -> str:
    """Where the dev server listens, without a trailing slash."""
    base = explicit or os.environ.get(PUBLIC_URL_ENV) or DEFAULT_PUBLIC_URL
    return base.rstrip("/")
