"""An identity provider that accepts connections but never answers: a quick 503, no hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.auth.test_oidc_login import sign_in
from tests.support.oidc import reset_oidc_caches

TIMEOUT = 0.5
#: Well above the timeouts above, well below the time a hanging call would take.
PATIENCE = 4.0


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A listening socket that is never read: connections succeed, answers never come."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@pytest.fixture
def short_timeouts(settings) -> None:
    settings.RM_OIDC_CONNECT_TIMEOUT = TIMEOUT
    settings.RM_OIDC_READ_TIMEOUT = TIMEOUT


def timed_call(token: str) -> tuple[object, float]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    started = time.monotonic()
    response = client.get("/api/c/team-a/resources")
    return response, time.monotonic() - started


def assert_quick_503(response, elapsed: float) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "identity_provider_unavailable"
    assert elapsed < PATIENCE


@pytest.fixture
def silent_provider(committing_db, settings, silent_url, short_timeouts) -> str:
    """Every endpoint explicit, all of them the silent server."""
    settings.OIDC_RP_CLIENT_ID = "resourcemanager"
    settings.OIDC_OP_ISSUER = silent_url
    for name in ("AUTHORIZATION", "TOKEN", "USER", "JWKS", "INTROSPECTION"):
        setattr(settings, f"OIDC_OP_{name}_ENDPOINT", f"{silent_url}/{name.lower()}")
    reset_oidc_caches()
    yield silent_url
    reset_oidc_caches()


def test_introspection_that_never_answers(silent_provider):
    assert_quick_503(*timed_call("an-opaque-token"))


def test_userinfo_that_never_answers(silent_provider, settings):
    settings.OIDC_OP_INTROSPECTION_ENDPOINT = ""
    settings.RM_OIDC_USERINFO_FALLBACK = True

    assert_quick_503(*timed_call("an-opaque-token"))


def test_a_key_set_that_never_answers(silent_provider):
    assert_quick_503(*timed_call("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2ln"))


def test_discovery_that_never_answers(committing_db, settings, silent_url, short_timeouts):
    settings.OIDC_RP_CLIENT_ID = "resourcemanager"
    settings.OIDC_OP_ISSUER = silent_url
    reset_oidc_caches()

    assert_quick_503(*timed_call("an-opaque-token"))
    started = time.monotonic()
    assert Client().get("/api/auth/login").status_code == 503
    assert time.monotonic() - started < PATIENCE


def test_a_token_endpoint_that_never_answers(committing_db, oidc_provider, settings,
                                             silent_url, short_timeouts):
    browser = Client()
    start = browser.get("/api/auth/login")
    callback = urlsplit(oidc_provider.authorize(start["Location"], "alice-sub"))
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{silent_url}/token"

    started = time.monotonic()
    response = browser.get(f"{callback.path}?{callback.query}")

    assert response.status_code == 503
    assert time.monotonic() - started < PATIENCE
    assert browser.get("/api/permissions").status_code in (401, 403)


def test_sign_in_still_works_with_short_timeouts(committing_db, oidc_provider,
                                                 short_timeouts):
    assert sign_in(Client(), oidc_provider, "alice-sub").status_code == 302
