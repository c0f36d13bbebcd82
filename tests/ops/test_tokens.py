"""Personal API tokens: ``Authorization: Bearer rmt_…``, stored as digests only."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from resourcemanager.identity.models import ApiToken, ScopeRole
from resourcemanager.identity.roles import Role
from resourcemanager.identity.tokens import issue_token, revoke_token

PROVIDERS = "/api/c/team-a/providers"


@pytest.fixture
def user(db, django_user_model):
    user = django_user_model.objects.create_user(username="alice", password=None)
    ScopeRole.objects.create(user=user, scope="team-a", role=Role.USER)
    return user


@pytest.fixture
def token(user) -> tuple[ApiToken, str]:
    return issue_token(user, "laptop", expires_in_days=30)


def get(path: str, authorization: str | None = None):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.get(path)


def assert_401(response, code: str) -> None:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_valid_token_authenticates(token):
    _, plaintext = token

    response = get(PROVIDERS, f"Bearer {plaintext}")

    assert response.status_code == 200, response.json()


def test_no_authorization_is_not_authenticated(user):
    assert_401(get(PROVIDERS), "not_authenticated")


def test_an_unknown_token_fails_authentication(user):
    assert_401(get(PROVIDERS, "Bearer rmt_" + "x" * 43), "authentication_failed")


def test_a_revoked_token_fails_authentication(token):
    record, plaintext = token

    revoke_token("alice", record)

    assert_401(get(PROVIDERS, f"Bearer {plaintext}"), "authentication_failed")


def test_an_expired_token_fails_authentication(token):
    record, plaintext = token
    record.expires_at = timezone.now() - timedelta(seconds=1)
    record.save()

    assert_401(get(PROVIDERS, f"Bearer {plaintext}"), "authentication_failed")


def test_the_token_of_an_inactive_user_fails_authentication(user, token):
    _, plaintext = token
    user.is_active = False
    user.save()

    assert_401(get(PROVIDERS, f"Bearer {plaintext}"), "authentication_failed")


def test_a_token_without_expiry_keeps_working(user):
    _, plaintext = issue_token(user, "service", expires_in_days=None)

    assert get(PROVIDERS, f"Bearer {plaintext}").status_code == 200


def test_only_the_digest_of_a_token_is_stored(token):
    record, plaintext = token

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {connection.ops.quote_name(ApiToken._meta.db_table)}"  # noqa: S608
        )
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)

    assert plaintext not in stored
    assert plaintext[10:] not in stored
    assert hashlib.sha256(plaintext.encode()).hexdigest() in stored
    assert record.hint == plaintext[:10]


def test_last_used_at_is_set_when_the_token_is_used(token):
    record, plaintext = token
    assert record.last_used_at is None
    before = timezone.now()

    get(PROVIDERS, f"Bearer {plaintext}")

    record.refresh_from_db()
    assert record.last_used_at is not None
    assert before <= record.last_used_at <= timezone.now()


def test_a_failed_authentication_does_not_touch_last_used_at(token):
    record, plaintext = token
    record.revoked_at = timezone.now()
    record.save()

    get(PROVIDERS, f"Bearer {plaintext}")

    record.refresh_from_db()
    assert record.last_used_at is None


def test_create_api_token_prints_a_token_that_works(user):
    out, err = io.StringIO(), io.StringIO()

    call_command("create_api_token", "alice", "--name", "ci", stdout=out, stderr=err)

    plaintext = out.getvalue().strip()
    assert plaintext.startswith("rmt_")
    assert plaintext not in err.getvalue()
    assert get(PROVIDERS, f"Bearer {plaintext}").status_code == 200
    record = ApiToken.objects.get(digest=ApiToken.digest_of(plaintext))
    assert (record.user, record.name) == (user, "ci")


def test_create_api_token_expires_after_the_default_lifetime(user, settings):
    out = io.StringIO()

    call_command("create_api_token", "alice", stdout=out, stderr=io.StringIO())

    record = ApiToken.objects.get(digest=ApiToken.digest_of(out.getvalue().strip()))
    lifetime = record.expires_at - record.created_at
    assert abs(lifetime - timedelta(days=settings.RM_API_TOKEN_DEFAULT_DAYS)) < timedelta(
        minutes=1
    )


def test_create_api_token_with_zero_days_never_expires(user):
    out = io.StringIO()

    call_command(
        "create_api_token", "alice", "--expires-days", "0", stdout=out, stderr=io.StringIO()
    )

    record = ApiToken.objects.get(digest=ApiToken.digest_of(out.getvalue().strip()))
    assert record.expires_at is None


def test_create_api_token_fails_clearly_for_an_unknown_user(user):
    out = io.StringIO()

    with pytest.raises(CommandError, match="no active user 'ghost'"):
        call_command("create_api_token", "ghost", stdout=out, stderr=io.StringIO())

    assert out.getvalue() == ""
    assert not ApiToken.objects.exists()


def test_create_api_token_refuses_an_inactive_user(user):
    user.is_active = False
    user.save()

    with pytest.raises(CommandError, match="no active user 'alice'"):
        call_command("create_api_token", "alice", stdout=io.StringIO(), stderr=io.StringIO())
