"""Personal API tokens of identity-provider users act with the roles of their last sign-in
(or accepted access token) while those are fresh, on top of local memberships."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from resourcemanager.identity.models import ExternalIdentity, ScopeRole
from resourcemanager.identity.roles import Role
from tests.auth.test_oidc_login import sign_in
from tests.support.oidc import USERS


@pytest.fixture
def browser(committing_db) -> Client:
    return Client()


def personal_token(browser: Client) -> APIClient:
    issued = browser.post("/api/tokens", {"name": "script"}, content_type="application/json")
    assert issued.status_code == 201, issued.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.json()['token']}")
    return client


def expire_claim_roles(sub: str) -> None:
    ExternalIdentity.objects.filter(subject=sub).update(
        claim_roles_until=timezone.now() - timedelta(seconds=1)
    )


def test_a_personal_token_acts_with_the_roles_of_the_last_sign_in(browser, oidc_provider):
    sign_in(browser, oidc_provider, "alice-sub")
    script = personal_token(browser)

    assert script.get("/api/c/team-a/resources").status_code == 200
    assert script.post("/api/c/team-a/resources", {}, format="json").status_code == 400
    assert script.post("/api/c/team-b/resources", {}, format="json").status_code == 403
    assert script.get("/api/c/team-c/resources").status_code == 403
    scopes = {s["scope"]: s["roles"] for s in script.get("/api/permissions").json()["scopes"]}
    assert scopes == {"team-a": ["RESOURCE_ADMIN"], "team-b": ["USER"]}


def test_stale_claim_roles_no_longer_count_but_local_memberships_do(browser, oidc_provider):
    sign_in(browser, oidc_provider, "alice-sub")
    script = personal_token(browser)
    alice = ExternalIdentity.objects.get(subject="alice-sub").user
    ScopeRole.objects.create(user=alice, scope="team-c", role=Role.USER)

    expire_claim_roles("alice-sub")

    assert script.get("/api/c/team-a/resources").status_code == 403
    assert script.get("/api/c/team-c/resources").status_code == 200


def test_roles_last_as_long_as_configured(browser, oidc_provider, settings):
    settings.RM_CLAIM_ROLES_MAX_AGE = 0
    sign_in(browser, oidc_provider, "alice-sub")

    assert personal_token(browser).get("/api/c/team-a/resources").status_code == 403
    assert browser.get("/api/c/team-a/resources").status_code == 200  # the session's own


def test_the_default_freshness_is_the_session_lifetime(settings):
    assert settings.RM_CLAIM_ROLES_MAX_AGE == settings.SESSION_COOKIE_AGE


def test_a_new_sign_in_with_fewer_roles_narrows_the_token(browser, oidc_provider):
    sign_in(browser, oidc_provider, "alice-sub")
    script = personal_token(browser)
    alice = next(user for user in USERS if user.sub == "alice-sub")
    fewer = {**alice.claims, "roles": ["resourcemanager/team-b:ROLE_USER"]}
    requests.put(f"{oidc_provider.url}/users/alice-sub", json=fewer,
                 timeout=10).raise_for_status()
    try:
        browser.post("/api/auth/logout")
        sign_in(browser, oidc_provider, "alice-sub")

        assert script.get("/api/c/team-a/resources").status_code == 403
        assert script.get("/api/c/team-b/resources").status_code == 200
    finally:
        requests.put(f"{oidc_provider.url}/users/alice-sub", json=alice.claims,
                     timeout=10).raise_for_status()


def test_an_accepted_provider_access_token_refreshes_the_roles(browser, oidc_provider,
                                                               settings):
    settings.RM_OIDC_USERINFO_FALLBACK = True
    sign_in(browser, oidc_provider, "alice-sub")
    script = personal_token(browser)
    expire_claim_roles("alice-sub")
    assert script.get("/api/c/team-a/resources").status_code == 403

    access_token = oidc_provider.tokens("alice-sub")["access_token"]
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert bearer.get("/api/c/team-a/resources").status_code == 200

    assert script.get("/api/c/team-a/resources").status_code == 200
