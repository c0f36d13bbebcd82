"""A provider instance's connection is tested when it is declared or changed, and on
demand (POST /providers/{key}/test, operators only), without waiting for beat's probe."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from providers.models import Provider
from providers.services import save_provider, sync_declared_providers
from resourcemanager.identity.roles import Principal

CANARY = "admin-secret-canary-77c1"
OPERATOR = Principal("ops", is_operator=True)


def reachability(client, key: str) -> dict:
    return client.get(f"/api/c/team-a/providers/{key}").json()["reachability"]


def test_an_operator_tests_an_instance_now(make_client, pg_provider):
    client = make_client(operator=True)
    assert reachability(client, "pg")["ok"] is None  # never probed: no beat here

    response = client.post("/api/c/team-a/providers/pg/test")

    assert response.status_code == 200, response.json()
    assert response.json()["key"] == "pg"
    assert response.json()["reachability"]["ok"] is True
    assert response.json()["reachability"]["checked_at"]
    entry = AuditEntry.objects.get(action="provider.test")
    assert (entry.actor, entry.outcome) == (client.user.username, "success")


def test_an_unreachable_instance_is_reported_without_its_server_detail(make_client, api_db):
    Provider.objects.create(key="down", provider_class="postgresql", host="127.0.0.1", port=1,
                            username="boss", password=CANARY)
    client = make_client(operator=True)

    response = client.post("/api/c/team-a/providers/down/test")

    assert response.status_code == 200
    shown = response.json()["reachability"]
    assert shown["ok"] is False
    assert shown["message"].startswith("the PostgreSQL server could not be reached (ref ")
    assert Provider.objects.get(key="down").reachability_message.startswith(
        "cannot reach PostgreSQL at 127.0.0.1:1")
    entry = AuditEntry.objects.get(action="provider.test")
    assert entry.outcome == "failure"
    assert "127.0.0.1" not in entry.message and CANARY not in entry.message


@pytest.mark.parametrize("role", ["ADMIN", "RESOURCE_ADMIN", "USER"])
def test_scope_members_may_not_make_the_platform_log_in_to_a_shared_server(
    make_client, pg_provider, role
):
    client = make_client(team_a=role)

    response = client.post("/api/c/team-a/providers/pg/test")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert Provider.objects.get(key="pg").reachability_checked_at is None
    assert not AuditEntry.objects.filter(action="provider.test").exists()


def test_an_instance_not_usable_in_the_scope_is_not_found(make_client, pg_provider):
    pg_provider.allowed_scopes = ["team-b"]
    pg_provider.save()
    client = make_client(operator=True)

    assert client.post("/api/c/team-a/providers/pg/test").status_code == 404
    assert client.post("/api/c/team-a/providers/nope/test").status_code == 404
    assert Provider.objects.get(key="pg").reachability_checked_at is None


def test_an_instance_saved_by_an_operator_is_tested_once_committed(api_db, pg_provider):
    down = Provider(key="down", provider_class="postgresql", host="127.0.0.1", port=1,
                    username="boss", password=CANARY)

    save_provider(OPERATOR, down, created=True)
    pg_provider.description = "changed"
    save_provider(OPERATOR, pg_provider, created=False)

    tested = {p.key: p for p in Provider.objects.all()}
    assert tested["down"].reachable is False and tested["down"].reachability_checked_at
    assert tested["pg"].reachable is True and tested["pg"].reachability_checked_at


def test_declared_instances_are_tested_when_synced(api_db, settings, pg_provider):
    settings.RM_PROVIDERS = [
        {"key": "declared-pg", "class": "postgresql", "host": pg_provider.host,
         "port": pg_provider.port, "username": pg_provider.username,
         "password": pg_provider.password},
        {"key": "declared-down", "url": "mysql://root@127.0.0.1:1"},
    ]

    sync_declared_providers()

    tested = {p.key: p for p in Provider.objects.filter(key__startswith="declared-")}
    assert tested["declared-pg"].reachable is True
    assert tested["declared-down"].reachable is False
    assert tested["declared-down"].reachability_message.startswith("cannot reach")
