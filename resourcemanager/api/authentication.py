"""API authentication: personal tokens (``Bearer rmt_…``) and the identity provider's."""

import logging

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from resourcemanager import identity, oidc
from resourcemanager.models import ApiToken
from resourcemanager.tokens import authenticate_token

logger = logging.getLogger(__name__)


def bearer_token(request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1").split()
    if len(header) != 2 or header[0] != "Bearer":
        return None
    return header[1]


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        plaintext = bearer_token(request)
        if plaintext is None or not plaintext.startswith(ApiToken.PREFIX):
            return None  # not one of ours: left to other authentication classes
        token = authenticate_token(plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class OIDCBearerAuthentication(authentication.BaseAuthentication):
    """Access tokens of the identity provider: JWTs checked locally, opaque ones online."""

    keyword = "Bearer"

    def authenticate(self, request):
        token = bearer_token(request)
        if token is None or token.startswith(ApiToken.PREFIX):
            return None
        if not oidc.enabled():
            raise exceptions.AuthenticationFailed("unknown token")
        try:
            verified = oidc.verify_bearer_token(token)
        except oidc.InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        except oidc.ProviderUnavailable as exc:
            logger.warning("bearer token not verified: %s", exc)
            raise IdentityProviderUnavailable() from None
        user = identity.user_for_claims(verified.issuer, verified.claims)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("this account is disabled")
        identity.store_claim_roles(user, verified.claims)
        return user, verified

    def authenticate_header(self, request) -> str:
        return self.keyword


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
