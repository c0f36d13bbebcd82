"""Browser login through OpenID Connect (authorization code flow, mozilla-django-oidc).

Endpoints come from ``resourcemanager.identity.oidc.endpoints`` (explicit settings or discovery);
users are linked by issuer and subject; the login's roles are kept in the session. An
identity provider that cannot be reached (or does not answer in time) gets a 503 page.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from resourcemanager.identity import oidc, principals

logger = logging.getLogger(__name__)

_ENDPOINT_SETTINGS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization",
    "OIDC_OP_TOKEN_ENDPOINT": "token",
    "OIDC_OP_USER_ENDPOINT": "userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "jwks",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session",
}


def oidc_setting(name: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings lookup, with endpoints from discovery."""
    if name == "OIDC_TIMEOUT":
        return oidc.http_timeout()
    if name in _ENDPOINT_SETTINGS:
        try:
            return getattr(oidc.endpoints(), _ENDPOINT_SETTINGS[name]) or None
        except oidc.ProviderUnavailable as exc:
            logger.warning("%s", exc)
            return None
    return import_from_settings(name, *default)


def _unavailable() -> HttpResponse:
    return HttpResponse(
        "The identity provider cannot be reached; try again shortly.",
        status=503,
        content_type="text/plain",
    )


class OIDCBackend(OIDCAuthenticationBackend):
    get_settings = staticmethod(oidc_setting)

    def authenticate(self, request, **kwargs: Any):
        """The code flow; a provider that fails to answer raises ProviderUnavailable."""
        try:
            return super().authenticate(request, **kwargs)
        except requests.RequestException as exc:
            raise oidc.ProviderUnavailable(f"sign-in at the identity provider: {exc}") from None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The ID token: signature, issuer, audience (this client), expiry and nonce."""
        try:
            claims = oidc.decode_jwt(token, audience=settings.OIDC_RP_CLIENT_ID).claims
        except oidc.InvalidToken as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from None
        if self.get_settings("OIDC_USE_NONCE", True) and claims.get("nonce") != kwargs.get(
            "nonce"
        ):
            raise SuspiciousOperation("ID token refused: nonce mismatch")
        return claims

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return isinstance(claims.get("sub"), str) and bool(claims["sub"])

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]):
        """Link by subject (never by e-mail); the claims travel on to the login step."""
        claims = {**payload, **self.get_userinfo(access_token, id_token, payload)}
        if not self.verify_claims(claims):
            return None
        user = principals.user_for_claims(oidc.endpoints().issuer, claims)
        if not user.is_active:
            return None
        user.oidc_claims = claims
        return user


class LoginView(OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        if not oidc.enabled():
            raise Http404("sign-in through an identity provider is not configured")
        if not self.OIDC_OP_AUTH_ENDPOINT:  # discovery failed
            return _unavailable()
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        try:
            return super().get(request)
        except oidc.ProviderUnavailable as exc:
            logger.warning("%s", exc)
            return _unavailable()

    def login_success(self):
        """Log in (which may renew the session), then keep the login's roles in it."""
        response = super().login_success()
        principals.remember_claim_roles(self.request.session, self.user, self.user.oidc_claims)
        return response


class LogoutView(OIDCLogoutView):
    get_settings = staticmethod(oidc_setting)
    http_method_names = ["post"]
