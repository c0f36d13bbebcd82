"""OpenID Connect: provider endpoints (explicit or discovered) and bearer-token checks.

Bearer tokens are JWTs verified against the provider's JWKS (signature, ``alg`` allow-list,
issuer, audience, expiry; keys found by ``kid``, refetched on rotation), or opaque tokens
resolved through token introspection (audience checked too) and cached briefly. The userinfo
endpoint, which cannot tell for which client a token was minted, is only asked when
``RM_OIDC_USERINFO_FALLBACK`` allows it. Every call to the provider has bounded connect and
read timeouts (``RM_OIDC_CONNECT_TIMEOUT``, ``RM_OIDC_READ_TIMEOUT``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
import requests
from django.conf import settings
from django.core.cache import cache as django_cache

logger = logging.getLogger(__name__)

_DISCOVERY_TTL = 3600
_JWT_LEEWAY = 30


class InvalidToken(Exception):
    """The bearer token is malformed, forged, expired or rejected by the provider."""


class ProviderUnavailable(Exception):
    """The identity provider cannot be reached or answered nonsense."""


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    authorization: str
    token: str
    userinfo: str
    jwks: str
    end_session: str
    introspection: str


@dataclass(frozen=True)
class VerifiedToken:
    """Claims of a bearer token that passed verification, and the issuer that made it."""

    issuer: str
    claims: dict[str, Any]


def enabled() -> bool:
    return bool(settings.OIDC_RP_CLIENT_ID)


def http_timeout() -> tuple[float, float]:
    """Connect and read timeouts, in seconds, of every request to the identity provider."""
    return (settings.RM_OIDC_CONNECT_TIMEOUT, settings.RM_OIDC_READ_TIMEOUT)


def audience() -> str:
    """The audience a bearer token must name (JWT ``aud``; introspection ``aud`` or client)."""
    return settings.RM_OIDC_AUDIENCE or settings.OIDC_RP_CLIENT_ID


_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
_discovery_lock = threading.Lock()


def _discovery_document() -> dict[str, Any]:
    url = settings.OIDC_OP_DISCOVERY_URL or (
        settings.OIDC_OP_ISSUER.rstrip("/") + "/.well-known/openid-configuration"
        if settings.OIDC_OP_ISSUER
        else ""
    )
    if not url:
        return {}
    with _discovery_lock:
        # No default timestamp: the monotonic clock starts near zero on a fresh boot.
        if url in _discovered:
            fetched_at, document = _discovered[url]
            if time.monotonic() - fetched_at < _DISCOVERY_TTL:
                return document
        try:
            response = requests.get(url, timeout=http_timeout())
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"OIDC discovery at {url} failed: {exc}") from None
        _discovered[url] = (time.monotonic(), document)
        return document


def endpoints() -> Endpoints:
    """Explicit ``OIDC_OP_*`` settings win; the rest comes from discovery.

    Discovery is skipped when every required endpoint is set explicitly; logout and
    introspection are optional and then only used when set too.
    """
    explicit = {
        "issuer": settings.OIDC_OP_ISSUER,
        "authorization": settings.OIDC_OP_AUTHORIZATION_ENDPOINT,
        "token": settings.OIDC_OP_TOKEN_ENDPOINT,
        "userinfo": settings.OIDC_OP_USER_ENDPOINT,
        "jwks": settings.OIDC_OP_JWKS_ENDPOINT,
        "end_session": settings.OIDC_OP_LOGOUT_ENDPOINT,
        "introspection": settings.OIDC_OP_INTROSPECTION_ENDPOINT,
    }
    discovery_keys = {
        "issuer": "issuer",
        "authorization": "authorization_endpoint",
        "token": "token_endpoint",
        "userinfo": "userinfo_endpoint",
        "jwks": "jwks_uri",
        "end_session": "end_session_endpoint",
        "introspection": "introspection_endpoint",
    }
    required = ("issuer", "authorization", "token", "userinfo", "jwks")
    document = {} if all(explicit[name] for name in required) else _discovery_document()
    return Endpoints(
        **{
            name: value or str(document.get(discovery_keys[name], "") or "")
            for name, value in explicit.items()
        }
    )


def verify_bearer_token(token: str) -> VerifiedToken:
    """Verify a bearer token from the identity provider, or raise InvalidToken."""
    if token.count(".") == 2:
        return decode_jwt(token, audience=audience())
    return _verify_opaque(token)


@cache
def _jwks_client(jwks_uri: str, refresh_cooldown: int, timeout: float) -> jwt.PyJWKClient:
    """Keys are cached; an unknown ``kid`` refetches them, at most once per cooldown.

    urllib takes one timeout, which bounds connecting and each read alike.
    """
    return jwt.PyJWKClient(
        jwks_uri,
        cache_keys=True,
        lifespan=300,
        timeout=timeout,
        cooldown_duration=refresh_cooldown,
    )


def decode_jwt(token: str, *, audience: str) -> VerifiedToken:
    """Verify a JWT's signature (JWKS, ``alg`` allow-list), issuer, audience and expiry."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("malformed token") from None
    allowed = settings.RM_OIDC_JWT_ALGORITHMS
    if header.get("alg") not in allowed:
        raise InvalidToken("token signing algorithm not allowed")
    provider = endpoints()
    if not provider.jwks or not provider.issuer:
        raise ProviderUnavailable("no JWKS endpoint or issuer known for the identity provider")
    try:
        client = _jwks_client(
            provider.jwks, settings.RM_OIDC_JWKS_REFRESH_COOLDOWN, max(http_timeout())
        )
        key = _signing_key(client, header.get("kid"))
    except jwt.PyJWKClientConnectionError as exc:
        raise ProviderUnavailable(f"cannot fetch the provider's keys: {exc}") from None
    except jwt.PyJWKClientError:
        raise InvalidToken("token signed by an unknown key") from None
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=allowed,
            audience=audience,
            issuer=provider.issuer,
            leeway=_JWT_LEEWAY,
            options={"require": ["exp", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("token not meant for this service (audience)") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("token from another issuer") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("invalid token signature or claims") from None
    return VerifiedToken(issuer=provider.issuer, claims=claims)


def _signing_key(client: jwt.PyJWKClient, kid: str | None) -> jwt.PyJWK:
    """The key named by ``kid``; a token naming none needs a provider with a single key."""
    if kid:
        return client.get_signing_key(kid)
    keys = client.get_signing_keys()
    if len(keys) != 1:
        raise jwt.PyJWKClientError("token names no key and the provider publishes several")
    return keys[0]


def _verify_opaque(token: str) -> VerifiedToken:
    """Ask the provider: token introspection (RFC 7662) where it offers it, else userinfo
    when ``RM_OIDC_USERINFO_FALLBACK`` allows it."""
    provider = endpoints()
    cache_key = "rm:oidc:opaque:" + hashlib.sha256(token.encode()).hexdigest()
    claims = django_cache.get(cache_key)
    if claims is None:
        if provider.introspection:
            claims = _introspect(provider.introspection, token)
        elif not settings.RM_OIDC_USERINFO_FALLBACK:
            raise InvalidToken(
                "opaque tokens need token introspection, which the identity provider does "
                "not offer; use a JWT access token"
            )
        elif provider.userinfo:
            claims = _userinfo(provider.userinfo, token)
        else:
            raise ProviderUnavailable("no introspection or userinfo endpoint is known")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("the identity provider returned no subject for this token")
        lifetime = settings.RM_OIDC_TOKEN_CACHE_SECONDS
        if isinstance(claims.get("exp"), int | float):
            lifetime = min(lifetime, int(claims["exp"] - time.time()))
        if lifetime > 0:
            django_cache.set(cache_key, claims, lifetime)
    return VerifiedToken(issuer=provider.issuer, claims=claims)


def _introspect(endpoint: str, token: str) -> dict[str, Any]:
    answer = _ask(
        "introspection",
        requests.post,
        endpoint,
        data={"token": token, "token_type_hint": "access_token"},
        auth=(settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET),
    )
    if answer.get("active") is not True:
        raise InvalidToken("token is not active")
    if isinstance(answer.get("exp"), int | float) and answer["exp"] < time.time():
        raise InvalidToken("token expired")
    if not _meant_for_us(answer):
        raise InvalidToken("token not meant for this service (audience)")
    return answer


def _meant_for_us(answer: dict[str, Any]) -> bool:
    """Whether the introspection answer names our audience in ``aud`` or ``client_id``."""
    aud = answer.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return audience() in [*named, answer.get("client_id")]


def _userinfo(endpoint: str, token: str) -> dict[str, Any]:
    return _ask("userinfo", requests.get, endpoint, headers={"Authorization": f"Bearer {token}"})


def _ask(name: str, method, endpoint: str, **kwargs: Any) -> dict[str, Any]:
    """One call to the provider: 4xx means the token is refused, anything else unavailable."""
    try:
        response = method(endpoint, timeout=http_timeout(), **kwargs)
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"cannot reach the {name} endpoint: {exc}") from None
    if response.status_code in (400, 401, 403):
        raise InvalidToken("token rejected by the identity provider")
    try:
        response.raise_for_status()
        answer = response.json()
    except (requests.RequestException, ValueError):
        raise ProviderUnavailable(f"the {name} endpoint answered with an error") from None
    if not isinstance(answer, dict):
        raise ProviderUnavailable(f"the {name} endpoint answered with an error")
    return answer
