"""ONE place builds what the handlers serve: settings, the App (agents + storage + jobs).

Everything is built once per cold start (``functools.lru_cache``) and shared by the
api, stream and worker handlers and by the dev server. Heavy modules (the agents
runtime, storage backends, boto3) are imported inside the builders, so importing a
handler stays cheap until the first request.

Environment:
    ``STOWAGE_AGENTS_MODULE``: a module exposing ``app`` (an ``App`` or a function
    returning one) or ``agents`` (a list of ``Agent``); default
    :mod:`handlers.default_agents` (one ``assistant`` on ``STOWAGE_MODEL``, else
    ``local/echo``). ``STOWAGE_APP`` (``module:attribute``) is honoured too.
    Storage: ``storage.from_env()``. Jobs: SQS when ``STOWAGE_JOBS_QUEUE_URL`` is
    set, in the request's thread with ``STOWAGE_JOBS=inline``, else a background pool.
    Auth and limits: see :class:`Settings`.

    ``STOWAGE_SETUP``: when storage is set up. ``start`` (the default: ``make dev``,
    tests, scripts) runs ``storage.setup()`` (create tables, buckets, run migrations)
    when the App is built. ``deploy`` (set by the CDK stack) skips it: the deploy ran
    it once (``handlers.setup``, a custom resource), so a cold start makes no storage
    request at all.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from handlers.cors import DEFAULT_ORIGINS, CorsPolicy, parse_origins
from handlers.sizes import DEFAULT_MAX_RESPONSE_BYTES, LAMBDA_RESPONSE_LIMIT

if TYPE_CHECKING:
    from agents.app import App
    from agents.jobs import JobRunner

log = logging.getLogger(__name__)

DEFAULT_AGENTS_MODULE = "handlers.default_agents"
# Under Lambda's 6 MB invocation payload once API Gateway's envelope is added.
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
# HS256 with a key shorter than its 32-byte hash is open to brute force (RFC 7518 3.2).
MIN_JWT_SECRET_BYTES = 32
# S3 refuses a presigned URL that lives longer than seven days.
MAX_URL_TTL = 7 * 24 * 3600
# API Gateway cuts a non-streamed REST call at 29 s: answer (and save) before it does.
DEFAULT_REQUEST_TIMEOUT = 25.0
DEFAULT_UPLOAD_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
    "application/json",
)


@dataclass(frozen=True)
class Settings:
    """What the handlers read from the environment, validated once.

    Attributes:
        auth: ``iam`` (trust the SigV4 caller API Gateway checked) or ``jwt``.
        jwt_issuer: ``STOWAGE_JWT_ISSUER`` (a Cognito user pool URL).
        jwt_audience: ``STOWAGE_JWT_AUDIENCE`` (the app client id: ``aud`` or ``client_id``).
        jwks_url: ``STOWAGE_JWT_JWKS_URL``, default ``<issuer>/.well-known/jwks.json``.
        jwt_secret: ``STOWAGE_JWT_SECRET``: an HS256 key instead of JWKS (dev and tests).
        jwt_public_key: ``STOWAGE_JWT_PUBLIC_KEY``: a PEM RS256 key instead of JWKS.
        max_body_bytes: ``STOWAGE_MAX_BODY_BYTES``: bigger JSON bodies answer 413.
        max_response_bytes: ``STOWAGE_MAX_RESPONSE_BYTES``: no api answer is bigger
            (lists stop a page early, anything else answers 413); at most Lambda's 6 MB.
        max_upload_bytes: ``STOWAGE_MAX_UPLOAD_BYTES``: the presigned upload's size bound.
        upload_types: ``STOWAGE_UPLOAD_TYPES`` (comma-separated content types).
        url_ttl: ``STOWAGE_URL_TTL``: seconds a download or upload URL lives.
        keepalive_seconds: ``STOWAGE_KEEPALIVE_SECONDS``: idle time before ``: keepalive``.
        cors_origins: ``STOWAGE_CORS_ORIGINS``: origins browsers may call from, with
            credentials (see :mod:`handlers.cors`; default: any port of localhost).
        request_timeout: ``STOWAGE_REQUEST_TIMEOUT``: seconds a non-streamed request may
            take, model calls included (default 25: under API Gateway's 29 s); when
            spent, generate answers 504 and saves nothing.
    """

    auth: str = "iam"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwks_url: str | None = None
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    upload_types: tuple[str, ...] = field(default=DEFAULT_UPLOAD_TYPES)
    url_ttl: int = 900
    keepalive_seconds: float = 15.0
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    cors_origins: tuple[str, ...] = DEFAULT_ORIGINS

    @property
    def cors(self) -> CorsPolicy:
        """The CORS policy of :attr:`cors_origins`."""
        return _cors_policy(self.cors_origins)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check the ``STOWAGE_*`` variables.

        Raises:
            ValueError: naming the setting: an unknown auth mode; JWT mode without an
                issuer, with a secret shorter than 32 bytes or a public key that is not
                a PEM key; a limit that is not a positive number (or a response limit
                over Lambda's 6 MB, a URL lifetime over S3's seven days); a bad CORS
                origin.
        """
        env = os.environ if env is None else env
        auth = (env.get("STOWAGE_AUTH") or "iam").strip().lower()
        if auth not in ("iam", "jwt"):
            raise ValueError(f"STOWAGE_AUTH must be iam or jwt, got {auth!r}")
        issuer = env.get("STOWAGE_JWT_ISSUER") or None
        secret = env.get("STOWAGE_JWT_SECRET") or None
        public_key = env.get("STOWAGE_JWT_PUBLIC_KEY") or None
        jwks = env.get("STOWAGE_JWT_JWKS_URL") or (
            f"{issuer.rstrip('/')}/.well-known/jwks.json" if issuer else None
        )
        if auth == "jwt":
            _check_jwt(issuer, secret, public_key)
        types = env.get("STOWAGE_UPLOAD_TYPES")
        max_response = _positive(env, "STOWAGE_MAX_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES)
        if max_response > LAMBDA_RESPONSE_LIMIT:
            raise ValueError(f"STOWAGE_MAX_RESPONSE_BYTES must be at most {LAMBDA_RESPONSE_LIMIT} "
                             f"(Lambda's response limit), got {max_response}")
        url_ttl = _positive(env, "STOWAGE_URL_TTL", 900)
        if url_ttl > MAX_URL_TTL:
            raise ValueError(f"STOWAGE_URL_TTL must be at most {MAX_URL_TTL} seconds (S3's "
                             f"limit for a presigned URL), got {url_ttl}")
        return cls(
            auth=auth,
            jwt_issuer=issuer,
            jwt_audience=env.get("STOWAGE_JWT_AUDIENCE") or None,
            jwks_url=jwks,
            jwt_secret=secret,
            jwt_public_key=public_key,
            max_body_bytes=_positive(env, "STOWAGE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            max_response_bytes=max_response,
            max_upload_bytes=_positive(env, "STOWAGE_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
            upload_types=tuple(t.strip() for t in types.split(",") if t.strip())
            if types
            else DEFAULT_UPLOAD_TYPES,
            url_ttl=url_ttl,
            keepalive_seconds=_positive(env, "STOWAGE_KEEPALIVE_SECONDS", 15.0),
            cors_origins=parse_origins(env.get("STOWAGE_CORS_ORIGINS")),
            request_timeout=_positive(env, "STOWAGE_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT),
        )


def _check_jwt(issuer: str | None, secret: str | None, public_key: str | None) -> None:
    # With an issuer there is always a key source: the JWKS URL defaults to the issuer's.
    if not issuer:
        raise ValueError("STOWAGE_AUTH=jwt needs STOWAGE_JWT_ISSUER (the token issuer, e.g. "
                         "https://cognito-idp.<region>.amazonaws.com/<user-pool-id>)")
    if secret is not None and len(secret.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        raise ValueError(f"STOWAGE_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes "
                         "(a shorter HS256 key can be guessed)")
    if secret is None and public_key is not None:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            load_pem_public_key(public_key.encode("utf-8"))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError("STOWAGE_JWT_PUBLIC_KEY is not a PEM public key") from None


@lru_cache(maxsize=8)
def _cors_policy(origins: tuple[str, ...]) -> CorsPolicy:
    # Compiled once per allow-list, not per request.
    return CorsPolicy(origins)


def _positive(env: Mapping[str, str], name: str, default: Any) -> Any:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = type(default)(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {raw!r}")
    return value


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this process (read once)."""
    return Settings.from_env()


_served: App | None = None


def use_app(app: App | None) -> None:
    """Serve this App instead of the one the environment describes (``None``: undo).

    For embedding the handlers in a program that builds its own App, and for tests.
    """
    global _served
    _served = app


def get_app() -> App:
    """The App every handler serves: :func:`use_app`'s, else the environment's (cached)."""
    return _served if _served is not None else _env_app()


@lru_cache(maxsize=1)
def _env_app() -> App:
    app = build_app(os.environ)
    log.info("wiring: agents=%s storage=%r jobs=%s", sorted(app.agents), app.storage,
             type(app.jobs).__name__)
    return app


def build_app(env: Mapping[str, str]) -> App:
    """Build the App from the environment (see the module docstring).

    Raises:
        ValueError: the agents module exposes neither ``app`` nor ``agents``.
    """
    from agents.app import App

    if env.get("STOWAGE_APP") and not env.get("STOWAGE_AGENTS_MODULE"):
        from agents.app import load_app

        return _ready(load_app(environ=env), env)
    module = importlib.import_module(env.get("STOWAGE_AGENTS_MODULE") or DEFAULT_AGENTS_MODULE)
    target = getattr(module, "app", None)
    if target is not None:
        app = target() if callable(target) and not isinstance(target, App) else target
        if not isinstance(app, App):
            raise ValueError(f"{module.__name__}.app is a {type(app).__name__}, not an App")
        if app.storage is None:
            app.storage = _storage(env)
        return _ready(app, env)
    agents = getattr(module, "agents", None)
    if agents is None:
        raise ValueError(f"{module.__name__} must expose `app` or `agents`")
    agent_list = agents() if callable(agents) else agents
    return _ready(App(agents=list(agent_list), storage=_storage(env), jobs=jobs_for(env)), env)


def _storage(env: Mapping[str, str]) -> Any:
    import storage

    return storage.from_env(dict(env))


SETUP_MODES = ("start", "deploy")


def setup_mode(env: Mapping[str, str]) -> str:
    """``STOWAGE_SETUP``: ``start`` (set up storage when the App is built) or ``deploy``.

    Raises:
        ValueError: another value.
    """
    mode = (env.get("STOWAGE_SETUP") or "start").strip().lower()
    if mode not in SETUP_MODES:
        raise ValueError(f"STOWAGE_SETUP must be start or deploy, got {mode!r}")
    return mode


def _ready(app: App, env: Mapping[str, str]) -> App:
    # Locally, tables and folders are created when the App is built (idempotent). A
    # deployed function skips it: the deploy set storage up, and a cold start that
    # described four tables and a bucket (or woke a paused Aurora cluster) would make
    # the first request pay for it.
    if app.storage is not None and setup_mode(env) == "start":
        app.storage.setup()
    return app


def jobs_for(env: Mapping[str, str]) -> JobRunner:
    """SQS on AWS, inline when asked (tests), else a background thread pool (local)."""
    from agents.jobs import BackgroundJobRunner, InlineJobRunner, SQSJobRunner

    queue_url = env.get("STOWAGE_JOBS_QUEUE_URL")
    if queue_url:
        return SQSJobRunner(queue_url)
    if (env.get("STOWAGE_JOBS") or "").lower() == "inline":
        return InlineJobRunner()
    return BackgroundJobRunner()


def reset() -> None:
    """Forget the cached settings and App (tests; a new environment takes effect)."""
    if _env_app.cache_info().currsize:
        _env_app().close()
    _env_app.cache_clear()
    settings.cache_clear()
    use_app(None)


__all__ = [
    "Settings",
    "build_app",
    "get_app",
    "jobs_for",
    "reset",
    "settings",
    "setup_mode",
    "use_app",
]
