"""CORS for browsers on another origin (Mastra Studio on :3000 calling the API on :4111).

Studio sends ``credentials: 'include'``, so ``Access-Control-Allow-Origin: *`` is not
enough (browsers refuse it with credentials): the request's origin is reflected when
it is on the allow-list, with ``Access-Control-Allow-Credentials: true`` and
``Vary: Origin`` so caches keep one answer per origin. Preflights (``OPTIONS`` with
``Access-Control-Request-Method``) are answered before the body checks and before
auth: a browser never sends credentials on a preflight.

The allow-list is ``STOWAGE_CORS_ORIGINS`` (comma-separated, read by
:class:`handlers._wiring.Settings`): exact origins (``https://studio.example.com``),
``:*`` for any port (``http://localhost:*``) or ``*.`` for any subdomain
(``https://*.example.com``). Unset, it is every port of ``localhost``, ``127.0.0.1``
and ``[::1]``, so Studio on a laptop reaches ``make dev`` and a deployed API alike.
``none`` turns CORS off; a bare ``*`` is refused (it cannot go with credentials).

One policy serves the three places that answer HTTP: :func:`handlers.api.dispatch`
(the api Lambda and the dev server's api routes), and :class:`CORSMiddleware` around
the stream app and the dev server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

DEFAULT_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*")
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
# Mastra's defaults; a preflight's own Access-Control-Request-Headers are reflected
# on top, so Studio's custom headers (a Cognito token, x-mastra-*) pass.
ALLOW_HEADERS = "Content-Type, Authorization, x-mastra-client-type, x-mastra-dev-playground"
EXPOSE_HEADERS = "Content-Length, x-mastra-run-id"
MAX_AGE = "3600"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_ORIGIN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9.\-\[\]:]+?(:(\d{1,5}|\*))?$")


def parse_origins(raw: str | None) -> tuple[str, ...]:
    """The allow-list of ``STOWAGE_CORS_ORIGINS``.

    Raises:
        ValueError: ``*`` (not allowed with credentials) or an entry that is not an
            ``http(s)://host[:port]`` origin.
    """
    if raw is None or not raw.strip():
        return DEFAULT_ORIGINS
    if raw.strip().lower() == "none":
        return ()
    origins = []
    for entry in (e.strip().rstrip("/") for e in raw.split(",")):
        if not entry:
            continue
        if entry == "*":
            raise ValueError("STOWAGE_CORS_ORIGINS cannot be '*': credentials are allowed, "
                             "so name the origins (http://localhost:* for any local port)")
        if not _ORIGIN.match(entry):
            raise ValueError(f"STOWAGE_CORS_ORIGINS entry {entry!r} is not an origin "
                             "like https://host, http://host:port or http://host:*")
        origins.append(entry)
    return tuple(origins)


def _pattern(origin: str) -> re.Pattern[str]:
    text = re.escape(origin.lower())
    text = text.replace(r"://\*\.", r"://[a-z0-9-]+(?:\.[a-z0-9-]+)*\.")
    if text.endswith(r":\*"):
        text = text[:-3] + r"(?::\d{1,5})?"
    return re.compile(text)


@dataclass(frozen=True)
class CorsPolicy:
    """Which origins may call, and the headers answering them."""

    origins: tuple[str, ...] = DEFAULT_ORIGINS

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(_pattern(o) for o in self.origins))

    def allows(self, origin: str | None) -> bool:
        """Whether ``origin`` is on the allow-list."""
        if not origin:
            return False
        patterns: tuple[re.Pattern[str], ...] = self._patterns  # type: ignore[attr-defined]
        # fullmatch: ``$`` alone would also match before a trailing newline, and the
        # origin is reflected into a header.
        return any(p.fullmatch(origin.lower()) for p in patterns)

    def headers(self, origin: str | None) -> dict[str, str]:
        """Headers for an actual (non-preflight) response: empty for other origins."""
        if not self.allows(origin):
            return {"Vary": "Origin"} if self.origins else {}
        assert origin is not None
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": EXPOSE_HEADERS,
            "Vary": "Origin",
        }

    def preflight(self, origin: str | None, requested_headers: str | None) -> dict[str, str]:
        """Headers for a preflight answer (204); without the allow headers for other origins."""
        out = self.headers(origin)
        if "Access-Control-Allow-Origin" not in out:
            return out
        out["Access-Control-Allow-Methods"] = ALLOW_METHODS
        out["Access-Control-Allow-Headers"] = _allow_headers(requested_headers)
        out["Access-Control-Max-Age"] = MAX_AGE
        return out


def _allow_headers(requested: str | None) -> str:
    names = [h.strip() for h in (requested or "").split(",")]
    extra = [h for h in names if h and _HEADER_NAME.match(h)]
    known = {h.strip().lower() for h in ALLOW_HEADERS.split(",")}
    return ", ".join([ALLOW_HEADERS, *(h for h in extra[:50] if h.lower() not in known)])


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A request header, whatever its case (API Gateway keeps the client's)."""
    wanted = name.lower()
    return next((v for k, v in (headers or {}).items() if k.lower() == wanted), None)


def add_headers(target: MutableMapping[str, Any], extra: Mapping[str, str]) -> None:
    """Set ``extra`` on a header mapping, replacing any value of another case."""
    for name, value in extra.items():
        for existing in [k for k in target if k.lower() == name.lower()]:
            del target[existing]
        target[name] = value


class CORSMiddleware:
    """ASGI middleware applying :class:`CorsPolicy` (the settings' by default).

    Preflights are answered here with 204 and never reach the app (no auth, no
    body checks); every other response gets the policy's headers.
    """

    def __init__(self, app: Any, policy: CorsPolicy | None = None) -> None:
        self.app = app
        self._policy = policy

    @property
    def policy(self) -> CorsPolicy:
        """The policy in force (the process settings' unless one was given)."""
        if self._policy is not None:
            return self._policy
        from handlers._wiring import settings

        return settings().cors

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = {k.decode("latin-1"): v.decode("latin-1")
                           for k, v in scope.get("headers", [])}
        origin = header(request_headers, "origin")
        policy = self.policy
        if scope["method"] == "OPTIONS":
            extra = policy.preflight(
                origin, header(request_headers, "access-control-request-headers"))
            await send({"type": "http.response.start", "status": 204,
                        "headers": _raw(extra.items())})
            await send({"type": "http.response.body", "body": b""})
            return
        extra = policy.headers(origin)

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start" and extra:
                names = {n.lower() for n in extra}
                kept = [(k, v) for k, v in message.get("headers", [])
                        if k.decode("latin-1").lower() not in names]
                message = {**message, "headers": kept + _raw(extra.items())}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _raw(items: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in items]


__all__ = [
    "DEFAULT_ORIGINS",
    "CORSMiddleware",
    "CorsPolicy",
    "add_headers",
    "header",
    "parse_origins",
]
