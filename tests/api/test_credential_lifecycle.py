"""A credential's life after ISSUE, on the real PostgreSQL (scram: passwords are really
checked): ROTATE without downtime, RENEW within max_ttl, an audited REVEAL, scheduled
rotation, and REVOKE taking every login of the credential along."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from audit.models import AuditEntry
from resourcemanager.resources import credential_sweeps
from resourcemanager.resources.models import Credential
from tests.api.test_credentials import TEAM_A, issue, pg_login, ready_resource
from tests.support.credentials import issued_credentials


def url_of(resource: dict, credential: dict, verb: str = "") -> str:
    return f"{TEAM_A}/{resource['id']}/credentials/{credential['id']}" + (
        f"/{verb}" if verb else "")


def refused(fields: dict) -> bool:
    try:
        pg_login(fields).close()
    except psycopg.OperationalError as error:
        return "authentication failed" in str(error) or "not permitted" in str(error)
    return False


def past_grace(credential_id: str) -> None:
    """Let the grace of every replaced login be over."""
    credential = Credential.objects.get(pk=credential_id)
    earlier = (timezone.now() - timedelta(seconds=1)).isoformat()
    credential.retiring = [{**each, "until": earlier} for each in credential.retiring]
    credential.retire_at = timezone.now() - timedelta(seconds=1)
    credential.save()


@pytest.fixture(name="issued")
def issued_credential(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    answer = issue(client, resource, holder="etl", access="read-write", ttl=600, max_ttl=3600)
    assert answer.status_code == 202, answer.json()
    return client, resource, answer.json()


def test_rotation_keeps_open_sessions_and_the_old_login_until_its_grace_ends(issued):
    client, resource, credential = issued
    old = credential["credentials"]
    session = pg_login(old)

    rotated = client.post(url_of(resource, credential, "rotate"), {"grace": 600},
                          format="json")

    assert rotated.status_code == 202, rotated.json()
    new = rotated.json()["credentials"]
    assert rotated.json()["status"] == "active"
    assert new["username"] != old["username"] and new["password"] != old["password"]
    assert rotated.json()["username"] == new["username"]
    with pg_login(new) as fresh:
        assert fresh.execute("SELECT current_user").fetchone() == (new["username"],)
    assert session.execute("SELECT 1").fetchone() == (1,)
    pg_login(old).close()  # still valid: its grace is not over

    past_grace(credential["id"])
    assert credential_sweeps.sweep_credentials() == 1

    assert refused(old)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    pg_login(new).close()
    assert Credential.objects.get(pk=credential["id"]).retiring == []
    actions = AuditEntry.objects.filter(action__in=["credential.rotate", "credential.retire"])
    assert sorted(actions.values_list("action", "outcome")) == [
        ("credential.retire", "success"), ("credential.rotate", "accepted"),
        ("credential.rotate", "success")]


def test_a_rotation_without_grace_drops_the_old_login_at_once(issued):
    client, resource, credential = issued

    rotated = client.post(url_of(resource, credential, "rotate"), {"grace": 0},
                          format="json")

    assert rotated.status_code == 202
    assert refused(credential["credentials"])
    pg_login(rotated.json()["credentials"]).close()


def test_a_second_rotation_while_one_runs_is_refused_and_changes_nothing(issued):
    client, resource, credential = issued
    Credential.objects.filter(pk=credential["id"]).update(status=Credential.Status.ROTATING)

    answer = client.post(url_of(resource, credential, "rotate"))

    assert (answer.status_code, answer.json()["code"]) == (409, "rotation_running")
    assert Credential.objects.get(pk=credential["id"]).pending_secret is None


def test_revoking_a_rotated_credential_drops_the_replaced_login_too(issued):
    client, resource, credential = issued
    new = client.post(url_of(resource, credential, "rotate")).json()["credentials"]

    assert client.delete(url_of(resource, credential)).json()["status"] == "revoked"

    assert refused(credential["credentials"]) and refused(new)


def test_renewal_moves_the_expiry_on_the_server_and_stops_at_max_ttl(issued):
    client, resource, credential = issued

    renewed = client.post(url_of(resource, credential, "renew"), {"ttl": 1800},
                          format="json")

    assert renewed.status_code == 202, renewed.json()
    expires_at = Credential.objects.get(pk=credential["id"]).expires_at
    assert timedelta(seconds=1790) < expires_at - timezone.now() <= timedelta(seconds=1800)
    with pg_login(renewed_fields := credential["credentials"]) as conn:
        valid_until = conn.execute("SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s",
                                   (renewed_fields["username"],)).fetchone()[0]
    assert abs(valid_until - expires_at) < timedelta(seconds=1)

    too_far = client.post(url_of(resource, credential, "renew"), {"ttl": 7200},
                          format="json")
    assert too_far.status_code == 400
    assert "max_ttl" in str(too_far.json())
    assert Credential.objects.get(pk=credential["id"]).expires_at == expires_at


def test_an_expired_or_endless_credential_is_not_renewed(issued, make_client):
    client, resource, credential = issued
    Credential.objects.filter(pk=credential["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=5))
    endless = issue(client, resource, holder="svc", access="read-only").json()

    expired = client.post(url_of(resource, credential, "renew"))
    forever = client.post(url_of(resource, endless, "renew"))

    assert (expired.status_code, expired.json()["code"]) == (409, "expired")
    assert (forever.status_code, forever.json()["code"]) == (409, "no_expiry")
    client.delete(url_of(resource, endless))
    revoked = client.post(url_of(resource, endless, "renew"))
    assert (revoked.status_code, revoked.json()["code"]) == (409, "not_active")
    assert "revoked" in revoked.json()["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"ttl": 10**9}, "ttl"),
    ({"ttl": 600, "max_ttl": 300}, "max_ttl"),
    ({"max_ttl": 600}, "max_ttl"),
    ({"rotation_period": 5}, "rotation_period"),
    ({"rotation_period": 10**12}, "rotation_period"),
    ({"holder": "user:nobody-here"}, "holder"),
    ({"access": "superuser"}, "access"),
])
def test_bad_lifetimes_are_refused_by_name_and_issue_nothing(
    make_client, scram_provider, body, field
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")

    answer = issue(client, resource, **{"holder": "etl", "access": "read-only", **body})

    assert answer.status_code == 400, answer.json()
    assert field in str(answer.json())
    assert not issued_credentials().exists()


def test_reveal_shows_the_current_secret_to_managers_and_the_holder_only(
    make_client, scram_provider
):
    admin = make_client(team_a="RESOURCE_ADMIN")
    holder, bystander = make_client(team_a="USER"), make_client(team_a="USER")
    resource = ready_resource(admin, "pg-scram")
    credential = issue(admin, resource, holder=f"user:{holder.user.username}",
                       access="read-only").json()
    url = url_of(resource, credential, "reveal")

    by_admin, by_holder = admin.post(url), holder.post(url)

    assert by_admin.status_code == by_holder.status_code == 200
    assert by_admin.json()["credentials"] == by_holder.json()["credentials"] == (
        credential["credentials"])
    assert [item["id"] for item in holder.get(
        f"{TEAM_A}/{resource['id']}/credentials").json()["results"]] == [credential["id"]]
    assert bystander.post(url).status_code == 404
    assert holder.post(url_of(resource, credential, "rotate")).status_code == 403
    reveals = AuditEntry.objects.filter(action="credential.reveal")
    assert sorted(reveals.values_list("actor", flat=True)) == sorted(
        [admin.user.username, holder.user.username])
    assert all(credential["credentials"]["password"] not in entry.message
               for entry in AuditEntry.objects.all())


def test_scheduled_rotation_is_started_by_the_sweep(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    credential = issue(client, resource, holder="etl", access="read-only",
                       rotation_period=3600).json()
    Credential.objects.filter(pk=credential["id"]).update(
        next_rotation_at=timezone.now() - timedelta(seconds=1))

    assert credential_sweeps.sweep_credentials() == 1

    rotated = Credential.objects.get(pk=credential["id"])
    assert rotated.status == Credential.Status.ACTIVE and rotated.rotated_at is not None
    assert rotated.login != credential["username"]
    assert rotated.next_rotation_at > timezone.now() + timedelta(seconds=3500)
    revealed = client.post(url_of(resource, credential, "reveal")).json()["credentials"]
    pg_login(revealed).close()
    pg_login(credential["credentials"]).close()  # within its grace


def test_a_user_holder_must_be_a_member_of_the_scope_and_unknown_ones_look_the_same(
    make_client, scram_provider
):
    admin = make_client(team_a="RESOURCE_ADMIN")
    outsider = make_client(team_b="USER")
    resource = ready_resource(admin, "pg-scram")

    foreign = issue(admin, resource, holder=f"user:{outsider.user.username}",
                    access="read-only")
    unknown = issue(admin, resource, holder="user:no-such-user", access="read-only")

    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json()["message"].replace(outsider.user.username, "?") == (
        unknown.json()["message"].replace("no-such-user", "?"))
    assert not issued_credentials().exists()
