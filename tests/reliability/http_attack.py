"""A dev server to attack over HTTP, on a chosen backend and auth mode, with two tenants.

:func:`running` serves :mod:`handlers.local` (the api Lambda handler and the stream
app, as ``make dev`` does) under uvicorn on a free port, its storage chosen by
environment as deployed:

* ``embedded``: the default, SQLite + a blob folder;
* ``dynamodb+s3``: DynamoDB tables and an S3 bucket under moto (in this process, each
  request atomic as on AWS);
* ``postgres``: a fresh database on the test server (skipped when unreachable, a
  failure under ``CI=true``), blobs in a folder.

:class:`Target` sends requests as ``alice`` or ``bob``. Under JWT each carries her
own bearer token; under IAM the caller is trusted (API Gateway checked SigV4), so a
tenant is just the ``resourceId`` a request names.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from handlers import _wiring
from handlers.local import app as local_app
from tests.conftest import skip_or_fail
from tests.handlers.servers import free_port, serve

ISSUER = "https://issuer.stowage.invalid/pool"
SECRET = "an-hs256-secret-of-at-least-32-bytes!"
BACKENDS = ("embedded", "dynamodb+s3", "postgres")
MODES = ("iam", "jwt")


def token(subject: str, **claims: Any) -> str:
    """A valid HS256 token for ``subject`` from :data:`ISSUER`."""
    body = {"sub": subject, "iss": ISSUER, "exp": int(time.time()) + 3600, **claims}
    return jwt.encode(body, SECRET, algorithm="HS256")


@dataclass
class Target:
    """A running dev server and who is calling it."""

    base: str
    backend: str
    auth: str
    client: httpx.Client = field(repr=False)

    @property
    def store(self) -> Any:
        """The store the server uses (same process): to check what is really stored."""
        return _wiring.get_app().storage

    def headers(self, tenant: str | None) -> dict[str, str]:
        """The credentials of ``tenant`` (none under IAM, or for an anonymous caller)."""
        if tenant is None or self.auth != "jwt":
            return {}
        return {"Authorization": f"Bearer {token(tenant)}"}

    def send(self, tenant: str | None, method: str, path: str, *,
             json: Any = None, content: bytes | str | None = None,
             params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """One request as ``tenant``; ``json`` is sent as ``application/json``."""
        return self.client.request(method, f"{self.base}{path}", json=json, content=content,
                                   params=params,
                                   headers={**self.headers(tenant), **(headers or {})})


def uid(prefix: str) -> str:
    """An id no other test of this server has used."""
    return f"{prefix}-{secrets.token_hex(5)}"


@contextmanager
def running(backend: str, auth: str, tmp: Path, *, vector_dimensions: int | None = None,
            **settings: str) -> Iterator[Target]:
    """Serve the dev server on ``backend`` in ``auth`` mode (extra ``STOWAGE_*`` settings;
    ``vector_dimensions`` gives DynamoDB's memory table a vector index)."""
    with ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        port = free_port()
        env = {
            "STOWAGE_BLOBS_URL": f"file:///{tmp}/blobs",
            "STOWAGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "STOWAGE_JOBS": "inline",
            "POWERTOOLS_METRICS_DISABLED": "true",
            **settings,
        }
        if backend == "embedded":
            env["STOWAGE_STORAGE_URL"] = f"sqlite:///{tmp}/stowage.db"
        elif backend == "dynamodb+s3":
            import moto

            from tests.storage.dynamodb_support import atomic_moto_dynamodb

            stack.enter_context(moto.mock_aws())
            stack.enter_context(atomic_moto_dynamodb())
            prefix = f"h{secrets.token_hex(3)}"
            vectors = ""
            if vector_dimensions:
                import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (moto has no index)

                vectors = f"&vector_dimensions={vector_dimensions}"
            env["STOWAGE_STORAGE_URL"] = f"dynamodb://{prefix}?region=us-east-1{vectors}"
            env["STOWAGE_BLOBS_URL"] = f"s3://{prefix}-blobs/b?region=us-east-1"
        else:
            import psycopg

            from tests.storage.fakes.pg import create_database, drop_database

            try:
                url = create_database("stowage_trust_")
            except psycopg.Error as exc:
                skip_or_fail(f"PostgreSQL is unreachable: {exc}")
            stack.callback(drop_database, url)
            env["STOWAGE_STORAGE_URL"] = url
        if auth == "jwt":
            env.update(STOWAGE_AUTH="jwt", STOWAGE_JWT_ISSUER=ISSUER, STOWAGE_JWT_SECRET=SECRET)
        for name, value in env.items():
            patch.setenv(name, value)
        _wiring.reset()
        stack.callback(_wiring.reset)
        base = stack.enter_context(serve(local_app, port))
        client = stack.enter_context(httpx.Client(timeout=120))
        yield Target(base, backend, auth, client)


__all__ = ["BACKENDS", "ISSUER", "MODES", "SECRET", "Target", "running", "token", "uid"]
