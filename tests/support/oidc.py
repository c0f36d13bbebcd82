"""A real OpenID Connect provider (oidc-provider-mock) and settings pointing at it.

Shared by the suites that sign in through it (``tests/auth``, ``tests/browser``): their
conftests import the fixtures ``oidc_server`` and ``oidc_provider`` from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.cache import cache
from oidc_provider_mock import User, run_server_in_thread

from resourcemanager.identity import oidc

CLIENT_ID = "resourcemanager"
CLIENT_SECRET = "client-secret-for-tests"
CALLBACK = "http://testserver/api/auth/callback"

USERS = [
    User(
        sub="alice-sub",
        claims={
            "preferred_username": "alice",
            "email": "alice@example.org",
            "roles": [
                "resourcemanager/team-a:ROLE_RESOURCE_ADMIN",
                "resourcemanager/team-b:ROLE_USER",
                "something/else:ROLE_ADMIN",
            ],
        },
    ),
    User(sub="bob-sub", claims={"preferred_username": "bob", "roles": []}),
    User(
        sub="dana-sub",
        claims={"preferred_username": "dana", "roles": ["resourcemanager/team-a:ROLE_USER"]},
    ),
]


@dataclass(frozen=True)
class Provider:
    url: str

    def authorize(self, authorize_url: str, sub: str) -> str:
        """Sign in as ``sub`` on the provider's form; return where it redirects to."""
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False,
                                 timeout=10)
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def tokens(self, sub: str, client_id: str = CLIENT_ID) -> dict:
        """Run the authorization code flow for ``sub`` as a client would; return the tokens.

        Any client id works: the provider accepts clients it was never told about.
        """
        query = {"client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code",
                 "scope": "openid email profile", "state": "s", "nonce": "n"}
        authorize = requests.Request("GET", f"{self.url}/oauth2/authorize", params=query)
        location = self.authorize(authorize.prepare().url, sub)
        code = parse_qs(urlsplit(location).query)["code"][0]
        response = requests.post(f"{self.url}/oauth2/token", timeout=10, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_id": client_id, "client_secret": CLIENT_SECRET,
        })
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[Provider]:
    with run_server_in_thread(user_claims=USERS) as server:
        yield Provider(url=f"http://localhost:{server.server_port}")


@pytest.fixture
def oidc_provider(oidc_server: Provider, settings) -> Iterator[Provider]:
    """Settings for the running provider, found through discovery."""
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = oidc_server.url
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "resourcemanager.identity.oidc_login.OIDCBackend",
    ]
    reset_oidc_caches()
    yield oidc_server
    reset_oidc_caches()


def reset_oidc_caches() -> None:
    oidc._discovered.clear()
    oidc._jwks_client.cache_clear()
    cache.clear()
