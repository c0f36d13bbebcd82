"""A scope's settings through the API: read by members, changed by its ADMIN only,
validated, audited; and what they change for credentials (self-service, TTL defaults and
the scope's ceiling), on the real PostgreSQL."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from resourcemanager.resources.models import Credential
from resourcemanager.scopes.models import ScopeSettings
from tests.api.test_credentials import TEAM_A, issue, pg_login, ready_resource

SETTINGS_A = "/api/c/team-a/settings"


def test_members_read_the_defaults_and_only_the_admin_changes_them(make_client):
    admin = make_client(team_a="ADMIN")
    others = [make_client(team_a=role) for role in ("RESOURCE_ADMIN", "CONSUMER_ADMIN", "USER")]

    for client in (admin, *others):
        answer = client.get(SETTINGS_A)
        assert answer.status_code == 200
        assert answer.json()["credential_self_service"] == ""
        assert answer.json()["credential_default_ttl"] is None
    for client in others:
        refused = client.patch(SETTINGS_A, {"credential_self_service": "read-write"},
                               format="json")
        assert refused.status_code == 403
    changed = admin.patch(SETTINGS_A, {"credential_self_service": "read-only",
                                       "credential_default_ttl": 3600}, format="json")

    assert changed.status_code == 200, changed.json()
    assert changed.json()["credential_self_service"] == "read-only"
    assert changed.json()["updated_by"] == admin.user.username
    entry = AuditEntry.objects.get(action="scope.settings")
    assert (entry.scope, entry.outcome) == ("team-a", "success")
    assert "credential_default_ttl=3600" in entry.message


def test_another_scope_neither_reads_nor_changes_them(make_client):
    ScopeSettings.objects.create(scope="team-a", credential_default_ttl=600)
    foreign = make_client(team_b="ADMIN")

    assert foreign.get(SETTINGS_A).status_code == 403
    assert foreign.patch(SETTINGS_A, {"credential_default_ttl": None},
                         format="json").status_code == 403
    assert foreign.get("/api/c/team-b/settings").json()["credential_default_ttl"] is None
    assert ScopeSettings.objects.get(scope="team-a").credential_default_ttl == 600


@pytest.mark.parametrize("body", [
    {"credential_self_service": "owner"},
    {"credential_default_ttl": 5},
    {"credential_max_ttl": 10**10},
    {"credential_max_ttl": 600, "credential_default_ttl": 3600},
    {"credential_default_ttl": "soon"},
])
def test_bad_settings_are_refused_by_name_and_change_nothing(make_client, body):
    admin = make_client(team_a="ADMIN")

    answer = admin.patch(SETTINGS_A, body, format="json")

    assert answer.status_code == 400, answer.json()
    assert any(name in str(answer.json()) for name in body)
    assert not ScopeSettings.objects.exists()


def test_self_service_lets_a_user_issue_renew_and_revoke_its_own_credential_only(
    make_client, scram_provider
):
    admin = make_client(team_a="ADMIN")
    user = make_client(team_a="USER")
    resource = ready_resource(admin, "pg-scram")
    own = f"user:{user.user.username}"
    url = f"{TEAM_A}/{resource['id']}/credentials"

    assert issue(user, resource, holder=own, access="read-only").status_code == 403
    admin.patch(SETTINGS_A, {"credential_self_service": "read-only"}, format="json")

    scheduled = issue(user, resource, holder=own, access="read-only", rotation_period=3600)
    assert scheduled.status_code == 403 and "rotation" in scheduled.json()["message"]
    assert not Credential.objects.filter(holder=own).exists()
    mine = issue(user, resource, holder=own, access="read-only", ttl=600)
    assert mine.status_code == 202, mine.json()
    pg_login(mine.json()["credentials"]).close()
    assert issue(user, resource, holder=own, access="read-write").status_code == 403
    assert issue(user, resource, holder="someone-else", access="read-only").status_code == 403
    others = issue(admin, resource, holder="etl", access="read-only").json()
    assert user.delete(f"{url}/{others['id']}").status_code == 404
    assert user.post(f"{url}/{mine.json()['id']}/renew").status_code == 202
    assert user.post(f"{url}/{mine.json()['id']}/rotate").status_code == 403
    assert user.delete(f"{url}/{mine.json()['id']}").json()["status"] == "revoked"
    assert Credential.objects.get(pk=others["id"]).status == Credential.Status.ACTIVE


def test_the_scope_default_ttl_and_ceiling_apply_to_new_credentials(
    make_client, scram_provider
):
    admin = make_client(team_a="ADMIN")
    resource = ready_resource(admin, "pg-scram")
    admin.patch(SETTINGS_A, {"credential_default_ttl": 900, "credential_max_ttl": 1800},
                format="json")

    default = issue(admin, resource, holder="etl", access="read-only").json()
    too_long = issue(admin, resource, holder="etl", access="read-only", ttl=3600)

    assert default["ttl"] == 900
    stored = Credential.objects.get(pk=default["id"])
    assert (stored.max_expires_at - stored.created_at).total_seconds() == pytest.approx(
        1800, abs=2)
    assert too_long.status_code == 400
    assert "1800" in str(too_long.json())
