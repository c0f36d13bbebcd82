"""Brute force: sign-in lockout, limited bearer-token failures, and refusals on the record."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role

PASSWORD = "a-long-enough-password-1"
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """The failure counts and the DENIED limit live in the cache."""
    cache.clear()


@pytest.fixture
def ann(committing_db, django_user_model):
    user = django_user_model.objects.create_user("ann", password=PASSWORD)
    ScopeRole.objects.create(user=user, scope="team-a", role=Role.ADMIN)
    return user


def sign_in(client: Client, password: str):
    return client.post(LOGIN, {"username": "ann", "password": password})


# --- password sign-in ---------------------------------------------------------------------


def test_repeated_failures_lock_the_username_out_from_that_address(ann, settings):
    client = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(settings.RM_LOGIN_FAILURE_LIMIT - 1):
        assert sign_in(client, "wrong").status_code == 200  # the form again
    assert sign_in(client, "wrong").status_code == 429

    locked = sign_in(client, PASSWORD)

    assert locked.status_code == 429
    assert client.get("/admin/").status_code == 302  # not signed in
    assert AuditEntry.objects.filter(actor="ann", action="auth.lockout",
                                     outcome="denied").count() == 1
    elsewhere = Client(REMOTE_ADDR="192.0.2.20")
    assert sign_in(elsewhere, PASSWORD).status_code == 302


def test_a_successful_sign_in_resets_the_count(ann, settings):
    client = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(2):
        for _ in range(settings.RM_LOGIN_FAILURE_LIMIT - 1):
            sign_in(client, "wrong")
        assert sign_in(client, PASSWORD).status_code == 302
        client.post("/admin/logout/")


def test_sign_in_without_a_request_still_works(ann):
    """authenticate() in a shell or command run by an operator on the server."""
    assert authenticate(username="ann", password=PASSWORD) == ann


# --- bearer tokens --------------------------------------------------------------------------


def api(token: str, address: str = "192.0.2.30", **headers) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", **headers)
    return client


def test_bearer_token_failures_are_limited_per_address(make_client, settings):
    settings.RM_API_AUTH_FAILURE_RATE = "3/min"
    good = make_client(team_a="USER")._credentials["HTTP_AUTHORIZATION"].split()[1]
    for attempt in range(3):
        spoofed = {"HTTP_X_FORWARDED_FOR": f"198.51.100.{attempt}"}
        assert api(f"rmt_guess{attempt}", **spoofed).get("/api/permissions").status_code == 401

    refused = api(good).get("/api/permissions")

    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    assert api("not-even-ours").get("/api/permissions").status_code == 429
    assert api(good, address="192.0.2.31").get("/api/permissions").status_code == 200


def test_successes_do_not_count(make_client, settings):
    settings.RM_API_AUTH_FAILURE_RATE = "3/min"
    good = make_client(team_a="USER")._credentials["HTTP_AUTHORIZATION"].split()[1]

    for _ in range(5):
        assert api(good).get("/api/permissions").status_code == 200


# --- refusals in the audit trail --------------------------------------------------------------


def test_refused_api_requests_are_recorded_once_a_minute(make_client):
    client = make_client(team_a="USER")
    name = client.user.username

    for _ in range(5):
        assert client.get("/api/c/team-b/resources").status_code == 403
    assert client.post("/api/c/team-a/resources", {}, format="json").status_code == 403
    assert APIClient().get("/api/c/team-a/resources").status_code == 401

    denied = AuditEntry.objects.filter(outcome="denied")
    assert sorted(denied.values_list("actor", "scope", "action")) == [
        ("anonymous", "team-a", "resource.view"),
        (name, "team-a", "resource.manage"),
        (name, "team-b", "resource.view"),
    ]
    assert "403 GET /api/c/team-b/resources" in denied.get(scope="team-b").message


def test_a_refused_grant_is_recorded_and_tells_nothing_of_the_username(ann, django_user_model):
    django_user_model.objects.create_user("ben", password=PASSWORD)
    client = Client()
    client.force_login(ann)
    pages = [
        client.post("/admin/resourcemanager/scoperole/add/",
                    {"username": username, "scope": scope, "role": "USER"}).content.decode()
        for username, scope in (("nobody", "team-a"), ("ben", "team-b"), ("ann", "team-a"))
    ]

    assert all("this grant is not allowed" in page for page in pages)
    assert not any("no active user with" in page for page in pages)
    assert not ScopeRole.objects.exclude(user=ann).exists()
    refusals = AuditEntry.objects.filter(action="membership.grant", outcome="denied")
    assert sorted(refusals.values_list("actor", "scope")) == [("ann", "team-a"),
                                                               ("ann", "team-b")]


# --- users changed in the admin ---------------------------------------------------------------


def test_changes_to_users_are_audited_without_passwords(committing_db, django_user_model):
    operator = django_user_model.objects.create_superuser("op", password=PASSWORD)
    client = Client()
    client.force_login(operator)
    secret = "Fresh-Secret-Password-42"

    added = client.post("/admin/auth/user/add/", {
        "username": "carl", "usable_password": "true",
        "password1": secret, "password2": secret,
    })
    assert added.status_code == 302, added.content.decode()[:2000]
    carl = django_user_model.objects.get(username="carl")
    changed = client.post(f"/admin/auth/user/{carl.pk}/password/", {
        "usable_password": "true", "password1": secret + "x", "password2": secret + "x",
    })
    assert changed.status_code == 302, changed.content.decode()[:2000]
    client.post(f"/admin/auth/user/{carl.pk}/delete/", {"post": "yes"})

    entries = AuditEntry.objects.filter(target_type="user").order_by("id")
    assert [(e.actor, e.action, e.target_name) for e in entries] == [
        ("op", "user.create", "carl"),
        ("op", "user.change", "carl"),
        ("op", "user.delete", "carl"),
    ]
    assert entries[1].message == "changed: password"
    assert not AuditEntry.objects.filter(message__icontains="secret").exists()
