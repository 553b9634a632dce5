"""Who is calling: IAM (trust the SigV4 caller) or a Cognito JWT (the resource is ``sub``).

IAM mode: API Gateway already checked the SigV4 signature and the IAM policy; the
caller is trusted with every resource, so :attr:`Caller.resource_id` is ``None``
(no ownership filter). JWT mode: the bearer token is verified here too (signature,
issuer, audience or ``client_id``, expiry), even behind a Cognito authorizer, so
the stream function behind the web adapter and the dev server get the same check.
The resource is the token's ``sub``; routes use :meth:`Caller.owns` to answer 404
for another tenant's threads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from handlers._wiring import Settings
from handlers.errors import AuthError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller.

    Attributes:
        resource_id: the tenant every thread must belong to (``None``: any, IAM mode).
        subject: the token's ``sub`` or the IAM caller's ARN, for logs.
    """

    resource_id: str | None = None
    subject: str | None = None

    def owns(self, resource_id: str | None) -> bool:
        """Whether this caller may see something owned by ``resource_id``."""
        return self.resource_id is None or self.resource_id == resource_id

    def resource(self, requested: str | None) -> str | None:
        """The resource a request acts on: the tenant's own under JWT, else as requested."""
        return self.resource_id if self.resource_id is not None else requested


def authenticate(settings: Settings, headers: Mapping[str, str],
                 request_context: Mapping[str, Any] | None = None) -> Caller:
    """The caller of a request, from its headers (and API Gateway's request context).

    Raises:
        AuthError: JWT mode and no valid bearer token.
    """
    if settings.auth != "jwt":
        identity = (request_context or {}).get("identity") or {}
        return Caller(None, identity.get("userArn") or identity.get("caller"))
    token = bearer_token(headers)
    claims = verify_jwt(settings, token)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError("token has no subject")
    return Caller(subject, subject)


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of ``Authorization: Bearer <token>`` (a bare token is accepted too).

    Raises:
        AuthError: no Authorization header.
    """
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        raise AuthError("missing Authorization header")
    scheme, _, rest = value.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else value.strip()
    if not token:
        raise AuthError("empty bearer token")
    return token


def verify_jwt(settings: Settings, token: str) -> dict[str, Any]:
    """Verify the token's signature, issuer, expiry and audience; return its claims.

    Cognito ID tokens carry the app client id in ``aud``, access tokens in
    ``client_id``: either must equal ``STOWAGE_JWT_AUDIENCE`` when it is set.

    Raises:
        AuthError: any check failed (the reason is logged, not returned).
    """
    import jwt

    try:
        if settings.jwt_secret:
            key: Any = settings.jwt_secret
            algorithms = ["HS256"]
        elif settings.jwt_public_key:
            key = settings.jwt_public_key
            algorithms = ["RS256"]
        else:
            if not settings.jwks_url:
                raise AuthError("JWT auth has no key source")
            key = _jwks_client(settings.jwks_url).get_signing_key_from_jwt(token).key
            algorithms = ["RS256"]
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        log.info("auth: token refused reason=%s", type(exc).__name__)
        raise AuthError("invalid token") from exc
    if settings.jwt_audience is not None:
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.jwt_audience not in audiences:
            log.info("auth: token refused reason=audience")
            raise AuthError("invalid token")
    return claims


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> Any:
    # Cached per cold start: PyJWKClient keeps the fetched keys and refetches on a new kid.
    import jwt

    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)


__all__ = ["Caller", "authenticate", "bearer_token", "verify_jwt"]
