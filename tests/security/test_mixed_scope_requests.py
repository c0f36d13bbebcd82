"""Requests involving two scopes: bodies naming another scope, roles in several scopes.

A body's scope never moves a resource out of, or creates one outside, the scope of the
URL; a user managing team-a with only USER in team-b cannot change or delete team-b's
resource, in the API or the admin, even in a bulk action spanning both scopes.
"""

from __future__ import annotations

import pytest

from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from tests.security.conftest import MEMORY_KEY, read_private_row
from tests.security.scope_requests import (
    admin_client,
    admin_url,
    alpha_and_bravo,  # noqa: F401 (fixture world)
    assert_untouched,
)


def test_a_create_body_naming_another_scope_is_refused_and_creates_nothing(
    make_client, world
):
    _, bravo = world
    client = make_client(team_a=Role.RESOURCE_ADMIN)

    response = client.post("/api/c/team-a/resources",
                           {"provider": MEMORY_KEY, "name": "fresh", "scope": "team-b"},
                           format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["scope"]  # the scope is the URL's alone
    assert not Resource.objects.filter(name="fresh").exists()
    assert_untouched(bravo)


def test_a_patch_body_cannot_move_a_resource_to_another_scope(make_client, world):
    alpha, _ = world
    client = make_client(team_a=Role.RESOURCE_ADMIN)

    client.patch(f"/api/c/team-a/resources/{alpha.id}",
                 {"scope": "team-b", "name": "moved", "status": "deleted"}, format="json")

    row = Resource.objects.get(pk=alpha.id)
    assert (row.scope, row.name, row.status) == ("team-a", "alpha", Resource.Status.READY)
    assert read_private_row(alpha) == alpha.data


MIXED = {"team_a": Role.RESOURCE_ADMIN, "team_b": Role.USER}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("patch", "", {"tags": ["pwned"]}), ("delete", "", None)],
)
def test_managing_one_scope_does_not_allow_managing_another_in_the_api(
    make_client, world, method, suffix, body
):
    _, bravo = world
    client = make_client(**MIXED)

    response = getattr(client, method)(f"/api/c/team-b/resources/{bravo.id}{suffix}", body,
                                       format="json")

    assert response.status_code == 403
    assert_untouched(bravo)


def test_managing_one_scope_does_not_allow_deleting_in_another_in_the_admin(make_client, world):
    _, bravo = world
    client = admin_client(make_client, **MIXED)

    response = client.post(admin_url("delete", bravo.id), {"post": "yes"})

    assert response.status_code == 403
    assert_untouched(bravo)


def test_managing_one_scope_does_not_allow_changing_another_in_the_admin(make_client, world):
    _, bravo = world
    client = admin_client(make_client, **MIXED)

    response = client.post(admin_url("change", bravo.id), {"tags": '["pwned"]',
                                                           "properties": "{}"})

    assert response.status_code == 403
    assert_untouched(bravo)


def test_a_bulk_delete_across_scopes_spares_the_scope_not_managed(make_client, world):
    _, bravo = world
    client = admin_client(make_client, **MIXED)

    client.post(admin_url("changelist"), {"action": "delete_selected", "post": "yes",
                                          "_selected_action": [r.id for r in world]})

    assert_untouched(bravo)
