"""The audit trail of lifecycle requests: who, where, what, outcome, request id; no secrets."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from audit.models import AuditEntry
from resourcemanager.resources.failures import reference
from resourcemanager.resources.models import Resource

TEAM_A = "/api/c/team-a/resources"


def entries(action: str, target_id: str) -> list[tuple[str, AuditEntry]]:
    rows = AuditEntry.objects.filter(action=action, target_id=target_id).order_by("id")
    return [(row.outcome, row) for row in rows]


def create(client, name: str = "orders"):
    response = client.post(TEAM_A, {"provider": "pg", "name": name}, format="json")
    assert response.status_code == 201, response.json()
    return response


def test_create_is_recorded_as_accepted_then_success(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client)

    rows = entries("resource.create", response.json()["id"])
    assert [outcome for outcome, _ in rows] == ["accepted", "success"]
    for _, row in rows:
        assert row.actor == client.user.username
        assert row.scope == "team-a"
        assert row.target_type == "resource"
        assert row.target_name == "team-a/orders"
        assert row.request_id == response["X-Request-ID"]
        assert row.source_ip == "127.0.0.1"


def test_check_is_recorded_with_the_request_id_of_the_check(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = create(client).json()["id"]

    response = client.post(f"{TEAM_A}/{resource_id}/check", format="json")

    assert response.status_code == 202
    rows = entries("resource.check", resource_id)
    assert [outcome for outcome, _ in rows] == ["accepted", "success"]
    assert {row.request_id for _, row in rows} == {response["X-Request-ID"]}
    assert {row.actor for _, row in rows} == {client.user.username}


def test_delete_is_recorded_as_accepted_then_success(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = create(client).json()["id"]

    response = client.delete(f"{TEAM_A}/{resource_id}")

    rows = entries("resource.delete", resource_id)
    assert [outcome for outcome, _ in rows] == ["accepted", "success"]
    assert {row.request_id for _, row in rows} == {response["X-Request-ID"]}
    assert {(row.actor, row.scope) for _, row in rows} == {(client.user.username, "team-a")}


def test_a_sane_incoming_request_id_is_kept_in_the_trail(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(
        TEAM_A, {"provider": "pg", "name": "orders"}, format="json",
        HTTP_X_REQUEST_ID="trace-0123456789",
    )

    assert response["X-Request-ID"] == "trace-0123456789"
    rows = entries("resource.create", response.json()["id"])
    assert {row.request_id for _, row in rows} == {"trace-0123456789"}


def unreachable_reason(resource_id: str) -> str:
    """What the audit trail (which tenants read) says of the resource's failure: neutral,
    with the reference of the detail the resource keeps for operators."""
    detail = Resource.objects.get(pk=resource_id).status_message
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in detail
    return f"the PostgreSQL server could not be reached (ref {reference(detail)})"


def test_a_failed_creation_is_recorded_as_a_failure_with_the_reason(make_client, pg_provider):
    pg_provider.port = 1  # nothing listens there
    pg_provider.save()
    client = make_client(team_a="RESOURCE_ADMIN")

    response = create(client)

    rows = entries("resource.create", response.json()["id"])
    assert [outcome for outcome, _ in rows] == ["accepted", "failure"]
    failure = rows[1][1]
    assert failure.message == unreachable_reason(response.json()["id"])
    assert failure.request_id == response["X-Request-ID"]
    assert failure.actor == client.user.username


def test_a_failed_deletion_is_recorded_as_a_failure_with_the_reason(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = create(client).json()["id"]
    pg_provider.port = 1
    pg_provider.save()

    client.delete(f"{TEAM_A}/{resource_id}")

    rows = entries("resource.delete", resource_id)
    assert [outcome for outcome, _ in rows] == ["accepted", "failure"]
    assert rows[1][1].message == unreachable_reason(resource_id)


def test_an_audit_entry_cannot_be_changed(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = create(client).json()["id"]
    entry = AuditEntry.objects.filter(target_id=resource_id).first()
    entry.outcome = "failure"

    with pytest.raises(ValueError, match="append-only"):
        entry.save()

    assert AuditEntry.objects.get(pk=entry.pk).outcome != "failure"


def test_an_audit_entry_cannot_be_deleted(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = create(client).json()["id"]
    entry = AuditEntry.objects.filter(target_id=resource_id).first()

    with pytest.raises(ValueError, match="append-only"):
        entry.delete()

    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_bulk_changes_to_the_trail_are_refused(make_client, pg_provider):
    create(make_client(team_a="RESOURCE_ADMIN"))
    count = AuditEntry.objects.count()

    with pytest.raises(ValueError, match="append-only"):
        AuditEntry.objects.all().update(outcome="success")
    with pytest.raises(ValueError, match="append-only"):
        AuditEntry.objects.filter(scope="team-a").delete()

    assert AuditEntry.objects.count() == count


def test_the_trail_holds_no_password(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = create(client).json()["id"]
    credentials = client.post(f"{TEAM_A}/{resource_id}/reveal").json()["credentials"]
    client.post(f"{TEAM_A}/{resource_id}/check", format="json")
    client.delete(f"{TEAM_A}/{resource_id}")

    rows = [model_to_dict(row) for row in AuditEntry.objects.all()]

    assert len(rows) >= 6
    for row in rows:
        text = " ".join(str(value) for value in row.values())
        assert credentials["password"] not in text
        assert credentials["uri"] not in text
