"""A resource's size limit (/resources/<id>/quota): read with its size and freeze by every
member, set by platform operators only, audited; no other scope reads or sets it, and
the resource's own PATCH cannot set it."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from resourcemanager.resources.models import Resource
from tests.api.test_credentials import TEAM_A, TEAM_B

ROLES = ("ADMIN", "RESOURCE_ADMIN", "CONSUMER_ADMIN", "USER")


@pytest.fixture
def resource(make_client, memory_provider) -> Resource:
    created = make_client(team_a="RESOURCE_ADMIN").post(
        TEAM_A, {"provider": "mem", "name": "orders"}, format="json")
    assert created.status_code == 201, created.json()
    return Resource.objects.get(pk=created.json()["id"])


def quota_of(resource: Resource, base: str = TEAM_A) -> str:
    return f"{base}/{resource.pk}/quota"


@pytest.mark.parametrize("role", ROLES)
def test_every_member_reads_it_and_none_sets_it(make_client, resource, role):
    Resource.objects.filter(pk=resource.pk).update(size=2048, frozen=True,
                                                   frozen_reason="over")
    client = make_client(team_a=role)

    answer = client.get(quota_of(resource))
    refused = client.patch(quota_of(resource), {"max_bytes": None}, format="json")

    assert answer.status_code == 200
    assert answer.json() | {"id": None} == {
        "id": None, "name": "orders", "max_bytes": None, "size": 2048, "size_objects": None,
        "size_measured_at": None, "frozen": True, "frozen_reason": "over", "frozen_at": None}
    shown = client.get(f"{TEAM_A}/{resource.pk}").json()
    assert (shown["size"], shown["frozen"], shown["max_bytes"]) == (2048, True, None)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"


def test_operators_set_it_audited(make_client, resource):
    operator = make_client(operator=True)

    answer = operator.patch(quota_of(resource), {"max_bytes": 10**9}, format="json")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["max_bytes"] == 10**9
    assert Resource.objects.get(pk=resource.pk).max_bytes == 10**9
    entry = AuditEntry.objects.get(action="resource.quota")
    assert (entry.scope, entry.outcome, entry.target_id, entry.actor) == (
        "team-a", "success", str(resource.pk), operator.user.username)
    assert entry.message == f"max_bytes={10**9}"
    assert operator.patch(quota_of(resource), {"max_bytes": None},
                          format="json").json()["max_bytes"] is None


@pytest.mark.parametrize("role", ROLES)
def test_another_scope_neither_reads_nor_sets_it(make_client, resource, role):
    Resource.objects.filter(pk=resource.pk).update(max_bytes=5)
    foreign = make_client(team_b=role)

    for url in (quota_of(resource), quota_of(resource, TEAM_B)):
        assert foreign.get(url).status_code in (403, 404)
        assert foreign.patch(url, {"max_bytes": None}, format="json").status_code in (403, 404)
    assert foreign.get(quota_of(resource, TEAM_B)).status_code == 404  # not in team-b
    assert Resource.objects.get(pk=resource.pk).max_bytes == 5


def test_an_operator_cannot_reach_it_through_another_scope(make_client, resource):
    operator = make_client(operator=True)

    answer = operator.patch(quota_of(resource, TEAM_B), {"max_bytes": 1}, format="json")

    assert answer.status_code == 404
    assert Resource.objects.get(pk=resource.pk).max_bytes is None


@pytest.mark.parametrize("body", [
    {"max_bytes": -1}, {"max_bytes": 2**53 + 1}, {"max_bytes": "1GB"}, {"max_bytes": True},
    {"max_bytes": 1.5}, {}, {"max_bytes": 1, "frozen": False}, {"size": 0},
])
def test_bad_limits_are_refused_and_change_nothing(make_client, resource, body):
    Resource.objects.filter(pk=resource.pk).update(max_bytes=5)

    answer = make_client(operator=True).patch(quota_of(resource), body, format="json")

    assert answer.status_code == 400, answer.json()
    assert Resource.objects.get(pk=resource.pk).max_bytes == 5


@pytest.mark.parametrize("resource_id", ["0" * 8, "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_resource_is_not_found(make_client, memory_provider, resource_id):
    for client in (make_client(operator=True), make_client(team_a="USER")):
        assert client.get(f"{TEAM_A}/{resource_id}/quota").status_code == 404
    answer = make_client(operator=True).patch(f"{TEAM_A}/{resource_id}/quota",
                                              {"max_bytes": 1}, format="json")
    assert answer.status_code == 404


@pytest.mark.parametrize("field", ["max_bytes", "frozen", "frozen_reason", "size"])
def test_the_resource_s_own_patch_does_not_set_limits_or_freezes(make_client, resource, field):
    value = False if field == "frozen" else ("" if field == "frozen_reason" else 1)

    answer = make_client(team_a="ADMIN").patch(f"{TEAM_A}/{resource.pk}", {field: value},
                                               format="json")

    assert answer.status_code == 400, answer.json()
    stored = Resource.objects.get(pk=resource.pk)
    assert (stored.max_bytes, stored.frozen, stored.size) == (None, False, None)
