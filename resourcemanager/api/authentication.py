"""API authentication: personal tokens (``Bearer rmt_…``) and the identity provider's.

Failed attempts are counted per client address; past ``RM_API_AUTH_FAILURE_RATE`` every
bearer token from that address is answered with 429 until the window has room again.
"""

import logging

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.throttling import SimpleRateThrottle

from resourcemanager.identity import oidc, principals
from resourcemanager.identity.models import ApiToken
from resourcemanager.identity.tokens import authenticate_token

logger = logging.getLogger(__name__)


def bearer_token(request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1").split()
    if len(header) != 2 or header[0] != "Bearer":
        return None
    return header[1]


class AuthFailureThrottle(SimpleRateThrottle):
    """Failed authentications of one client address within the rate's window."""

    scope = "auth_failure"

    def get_rate(self) -> str | None:
        return settings.RM_API_AUTH_FAILURE_RATE or None

    def get_ident(self, request) -> str:
        """The peer address only: a client-set X-Forwarded-For would evade the limit."""
        return request.META.get("REMOTE_ADDR", "")

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def refuse_if_exhausted(self, request) -> None:
        if self.rate is not None and not self.allow_request(request, None):
            raise exceptions.Throttled(self.wait())

    def throttle_success(self) -> bool:
        """Checking costs nothing; only ``note_failure`` counts."""
        return True

    def note_failure(self, request) -> None:
        if self.rate is None:
            return
        self.allow_request(request, None)  # loads the window's history
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)


class BearerAuthentication(authentication.BaseAuthentication):
    """A bearer token this class handles, with failures counted per client address."""

    keyword = "Bearer"

    def authenticate(self, request):
        token = bearer_token(request)
        if token is None or not self.handles(token):
            return None  # not one of ours: left to other authentication classes
        throttle = AuthFailureThrottle()
        throttle.refuse_if_exhausted(request)
        try:
            return self.verify(token)
        except exceptions.AuthenticationFailed:
            throttle.note_failure(request)
            raise

    def handles(self, token: str) -> bool:
        raise NotImplementedError

    def verify(self, token: str) -> tuple:
        raise NotImplementedError

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiTokenAuthentication(BearerAuthentication):
    def handles(self, token: str) -> bool:
        return token.startswith(ApiToken.PREFIX)

    def verify(self, token: str) -> tuple:
        found = authenticate_token(token)
        if found is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        return found.user, found


class OIDCBearerAuthentication(BearerAuthentication):
    """Access tokens of the identity provider: JWTs checked locally, opaque ones online."""

    def handles(self, token: str) -> bool:
        return not token.startswith(ApiToken.PREFIX)

    def verify(self, token: str) -> tuple:
        if not oidc.enabled():
            raise exceptions.AuthenticationFailed("unknown token")
        try:
            verified = oidc.verify_bearer_token(token)
        except oidc.InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        except oidc.ProviderUnavailable as exc:
            logger.warning("bearer token not verified: %s", exc)
            raise IdentityProviderUnavailable() from None
        user = principals.user_for_claims(verified.issuer, verified.claims)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("this account is disabled")
        principals.store_claim_roles(user, verified.claims)
        return user, verified


class IdentityProviderUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "the identity provider cannot be reached; try again shortly"
    default_code = "identity_provider_unavailable"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token as an HTTP bearer scheme in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Personal API token (rmt_…)"}


class OIDCBearerScheme(OpenApiAuthenticationExtension):
    target_class = OIDCBearerAuthentication
    name = "oidcBearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or opaque",
                "description": "Access token of the configured OpenID Connect provider"}
