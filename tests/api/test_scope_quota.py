"""A scope's quota through the API: read with its usage by members, set by platform
operators only, audited; a request past a limit is refused by name with nothing changed
(racing requests: tests/ops/test_quota_races.py)."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.scopes.models import ScopeQuota
from tests.api.test_credentials import TEAM_A, issue

QUOTA_A = "/api/c/team-a/quota"


def create(client, name: str, provider: str = "mem"):
    return client.post(TEAM_A, {"provider": provider, "name": name}, format="json")


def test_members_read_it_with_the_usage_and_only_operators_change_it(
        make_client, memory_provider):
    admin, operator = make_client(team_a="ADMIN"), make_client(operator=True)
    members = [admin, *(make_client(team_a=role)
                        for role in ("RESOURCE_ADMIN", "CONSUMER_ADMIN", "USER"))]
    assert create(admin, "orders").status_code == 201

    for client in members:
        answer = client.get(QUOTA_A)
        assert answer.status_code == 200
        assert answer.json() | {"updated_at": None} == {
            "scope": "team-a", "max_resources": None, "max_credentials": None,
            "max_bytes": None, "usage": {
                "resources": 1, "credentials": 0, "bytes": 0, "objects": 0, "frozen": 0,
                "operations": 1},
            "updated_by": "", "updated_at": None}
        for limit in ("max_resources", "max_bytes"):
            refused = client.patch(QUOTA_A, {limit: 100}, format="json")
            assert refused.status_code == 403
    changed = operator.patch(QUOTA_A, {"max_resources": 5, "max_credentials": 10,
                                       "max_bytes": 2**40}, format="json")

    assert changed.status_code == 200, changed.json()
    assert (changed.json()["max_resources"], changed.json()["max_credentials"],
            changed.json()["max_bytes"]) == (5, 10, 2**40)
    assert changed.json()["updated_by"] == operator.user.username
    entry = AuditEntry.objects.get(action="scope.quota")
    assert (entry.scope, entry.outcome) == ("team-a", "success")
    assert entry.message == f"max_bytes={2**40}, max_credentials=10, max_resources=5"


def test_another_scope_neither_reads_nor_changes_it(make_client):
    ScopeQuota.objects.create(scope="team-a", max_resources=3)
    foreign = make_client(team_b="ADMIN")

    assert foreign.get(QUOTA_A).status_code == 403
    assert foreign.patch(QUOTA_A, {"max_resources": None}, format="json").status_code == 403
    assert foreign.patch(QUOTA_A, {"max_bytes": 1}, format="json").status_code == 403
    assert foreign.get("/api/c/team-b/quota").json()["max_resources"] is None
    assert ScopeQuota.objects.get(scope="team-a").max_resources == 3
    assert ScopeQuota.objects.get(scope="team-a").max_bytes is None


@pytest.mark.parametrize("body", [
    {"max_resources": -1}, {"max_resources": "many"}, {"max_credentials": 10**9},
    {"max_buckets": 3}, {"max_resources": True}, {"max_bytes": -1}, {"max_bytes": 2**53 + 1},
    {"max_bytes": 1.5}, {"max_bytes": "1GB"},
])
def test_bad_limits_are_refused_by_name_and_change_nothing(make_client, body):
    ScopeQuota.objects.create(scope="team-a", max_resources=3)
    operator = make_client(operator=True)

    answer = operator.patch(QUOTA_A, body, format="json")

    assert answer.status_code == 400
    assert next(iter(body)) in str(answer.json())
    assert ScopeQuota.objects.get(scope="team-a").max_resources == 3


def test_a_resource_past_the_limit_is_refused_by_name(make_client, memory_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    ScopeQuota.objects.create(scope="team-a", max_resources=2)
    assert create(client, "first").status_code == 201
    added = client.post(f"{TEAM_A}/add", {"provider": "mem", "name": "second",
                                          "uri": "memory://u:p@db.example:1/elsewhere"},
                        format="json")
    assert added.status_code == 201, added.json()  # registered ones count too

    refused = create(client, "third")

    assert refused.status_code == 409, refused.json()
    assert refused.json()["code"] == "quota_exceeded"
    assert refused.json()["message"] == (
        "over the scope's quota of resources: at most 2 (max_resources), and it holds 2")
    assert Resource.objects.filter(scope="team-a").count() == 2
    deleted = client.delete(f"{TEAM_A}/{Resource.objects.filter(scope='team-a').first().pk}")
    assert deleted.status_code in (200, 202, 204)
    assert create(client, "fourth").status_code == 201  # a deleted one frees its place


def test_a_credential_past_the_limit_is_refused_and_the_owner_s_does_not_count(
        make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    ScopeQuota.objects.create(scope="team-a", max_credentials=1)
    resource = create(client, "orders", provider="pg").json()  # its owner's: not counted

    assert issue(client, resource, holder="reports", access="read-only").status_code in (201, 202)
    refused = issue(client, resource, holder="app", access="read-write")

    assert refused.status_code == 409, refused.json()
    assert refused.json()["code"] == "quota_exceeded"
    assert "max_credentials" in refused.json()["message"]
    assert not Credential.objects.filter(holder="app").exists()
    assert client.get(QUOTA_A).json()["usage"] == {  # operations: the create and the issue
        "resources": 1, "credentials": 1, "bytes": 0, "objects": 0, "frozen": 0,
        "operations": 2}
