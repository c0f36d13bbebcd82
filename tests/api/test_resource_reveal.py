"""A resource's owner secret: in the answer that created it, then only through an audited
reveal by those who manage the scope's credentials; reads carry the connection alone."""

from __future__ import annotations

import psycopg
import pytest

from audit.models import AuditEntry

TEAM_A = "/api/c/team-a/resources"


@pytest.fixture(name="created")
def created_resource(make_client, pg_provider) -> tuple:
    admin = make_client(team_a="RESOURCE_ADMIN")
    answer = admin.post(TEAM_A, {"provider": "pg", "name": "ledger"}, format="json")
    assert answer.status_code == 201, answer.json()
    assert answer["Cache-Control"] == "no-store"
    return admin, answer.json()


@pytest.mark.parametrize("role", ["ADMIN", "RESOURCE_ADMIN", "CONSUMER_ADMIN", "USER"])
def test_reads_carry_the_connection_but_never_the_secret(make_client, created, role):
    _, resource = created
    password = resource["credentials"]["password"]
    reader = make_client(team_a=role)

    for answer in (reader.get(f"{TEAM_A}/{resource['id']}"), reader.get(TEAM_A),
                   reader.get(f"{TEAM_A}/{resource['id']}", HTTP_ACCEPT="text/html")):
        assert answer.status_code == 200
        assert password.encode() not in answer.content
    detail = reader.get(f"{TEAM_A}/{resource['id']}").json()
    assert "credentials" not in detail
    assert detail["connection"] == {
        key: resource["credentials"][key] for key in ("username", "host", "port", "database")}


def test_a_reveal_shows_the_working_secret_and_is_audited(created):
    admin, resource = created

    answer = admin.post(f"{TEAM_A}/{resource['id']}/reveal")

    assert answer.status_code == 200
    assert answer["Cache-Control"] == "no-store"
    assert answer.json()["credentials"] == resource["credentials"]
    with psycopg.connect(answer.json()["credentials"]["uri"], connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    entry = AuditEntry.objects.get(action="resource.reveal")
    assert (entry.actor, entry.outcome) == (admin.user.username, "success")
    assert resource["credentials"]["password"] not in entry.message


@pytest.mark.parametrize(("scope", "role", "code"), [
    ("team_a", "USER", 403), ("team_a", "CONSUMER_ADMIN", 403), ("team_b", "ADMIN", 404),
])
def test_others_get_no_reveal(make_client, created, scope, role, code):
    _, resource = created
    other = make_client(**{scope: role})
    base = "/api/c/team-b/resources" if scope == "team_b" else TEAM_A

    answer = other.post(f"{base}/{resource['id']}/reveal")

    assert answer.status_code == code
    assert resource["credentials"]["password"].encode() not in answer.content
    assert not AuditEntry.objects.filter(action="resource.reveal").exists()
