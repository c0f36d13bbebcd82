"""Browser login through the identity provider, end to end, and logout."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from audit.models import AuditEntry
from resourcemanager.identity.models import ExternalIdentity


@pytest.fixture
def browser(committing_db) -> Client:
    return Client()


def sign_in(browser: Client, provider, sub: str):
    start = browser.get("/api/auth/login", {"next": "/admin/"})
    assert start.status_code == 302
    authorize_url = start["Location"]
    assert authorize_url.startswith(provider.url)
    assert parse_qs(urlsplit(authorize_url).query)["redirect_uri"] == [
        "http://testserver/api/auth/callback"
    ]
    callback = urlsplit(provider.authorize(authorize_url, sub))
    return browser.get(f"{callback.path}?{callback.query}")


def test_sign_in_creates_a_linked_user_with_roles_from_claims(browser, oidc_provider):
    response = sign_in(browser, oidc_provider, "alice-sub")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    link = ExternalIdentity.objects.get(subject="alice-sub")
    assert link.issuer == oidc_provider.url
    assert link.user.username == "alice"
    permissions = browser.get("/api/permissions").json()
    assert permissions["username"] == "alice"
    assert {s["scope"]: s["roles"] for s in permissions["scopes"]} == {
        "team-a": ["RESOURCE_ADMIN"],
        "team-b": ["USER"],
    }


def test_the_signed_in_user_reaches_the_admin_and_the_api(browser, oidc_provider):
    sign_in(browser, oidc_provider, "alice-sub")

    assert browser.get("/admin/").status_code == 200
    assert browser.get("/api/c/team-a/resources").status_code == 200
    assert browser.get("/api/c/team-c/resources").status_code == 403
    assert browser.get("/api/auth/user").json()["authenticated_by"] == "session"


def test_a_user_without_roles_gets_no_scope(browser, oidc_provider):
    sign_in(browser, oidc_provider, "bob-sub")

    assert browser.get("/api/permissions").json()["scopes"] == []
    assert browser.get("/api/c/team-a/resources").status_code == 403
    assert browser.get("/admin/").status_code == 302  # back to the login page


def test_a_second_login_finds_the_same_user(browser, oidc_provider):
    sign_in(browser, oidc_provider, "alice-sub")
    browser.post("/api/auth/logout")
    sign_in(browser, oidc_provider, "alice-sub")

    assert ExternalIdentity.objects.filter(subject="alice-sub").count() == 1


def test_an_idp_user_never_takes_over_a_local_account(browser, oidc_provider,
                                                     django_user_model):
    local = django_user_model.objects.create_superuser("alice", "alice@example.org", "x" * 20)

    sign_in(browser, oidc_provider, "alice-sub")

    link = ExternalIdentity.objects.get(subject="alice-sub")
    assert link.user != local
    assert not link.user.is_superuser
    assert browser.get("/api/auth/user").json()["username"] == "alice-2"


def test_logout_ends_the_session(browser, oidc_provider):
    sign_in(browser, oidc_provider, "alice-sub")

    assert browser.post("/api/auth/logout").status_code == 302
    assert browser.get("/api/permissions").status_code in (401, 403)


def test_logins_are_audited(browser, oidc_provider):
    sign_in(browser, oidc_provider, "alice-sub")

    assert AuditEntry.objects.filter(action="auth.login", actor="alice",
                                     outcome="success").exists()


def test_a_forged_callback_is_refused(browser, oidc_provider):
    browser.get("/api/auth/login")

    response = browser.get("/api/auth/callback", {"code": "made-up", "state": "made-up"})

    assert response.status_code in (302, 400)
    assert browser.get("/api/permissions").status_code in (401, 403)


def test_the_admin_login_page_offers_the_provider(browser, oidc_provider):
    page = browser.get("/admin/login/").content.decode()

    assert "/api/auth/login" in page
    assert 'name="password"' in page
