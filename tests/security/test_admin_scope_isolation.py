"""Scope isolation in the admin's resource, audit, provider and membership pages.

Staff users with a role in team-a see only team-a's resources, audit entries and
memberships; search, filters, object pages and bulk actions do not reach team-b; forged
changes and deletions beyond the role are refused; providers reserved for other scopes
are not offered; platform configuration is read-only to scope admins.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from providers.models import Provider
from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from tests.security.conftest import MEMORY_KEY, database_and_login_exist
from tests.security.scope_requests import (
    admin_client,
    admin_url,
    alpha_and_bravo,  # noqa: F401 (fixture world)
    assert_reveals_nothing_of,
    assert_untouched,
)


def test_admin_changelist_shows_only_the_own_scope(make_client, world):
    alpha, bravo = world
    client = admin_client(make_client, team_a=Role.USER)

    page = client.get(admin_url("changelist"))

    assert page.status_code == 200
    assert alpha.name in page.content.decode()
    assert_reveals_nothing_of(page, bravo)
    assert "team-b" not in page.content.decode()  # not even in the scope filter


@pytest.mark.parametrize(
    "query", [{"q": "bravo"}, {"scope": "team-b"}, {"scope__exact": "team-b"}], ids=str
)
def test_admin_search_and_filters_do_not_reach_team_b(make_client, world, query):
    _, bravo = world
    client = admin_client(make_client, team_a=Role.USER)

    page = client.get(admin_url("changelist"), query, follow=True)

    assert_reveals_nothing_of(page, bravo)


@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_admin_pages_of_a_team_b_resource_are_not_shown(make_client, world, view):
    _, bravo = world
    client = admin_client(make_client, team_a=Role.USER)

    response = client.get(admin_url(view, bravo.id))
    unknown = client.get(admin_url(view, uuid.uuid4()))

    assert response.status_code in (302, 403, 404)
    assert response.status_code == unknown.status_code  # as if it did not exist
    followed = client.get(admin_url(view, bravo.id), follow=True)
    assert bravo.name not in followed.content.decode()
    assert bravo.backend_name not in followed.content.decode()
    assert_untouched(bravo)


def test_a_user_forging_an_admin_delete_of_its_own_scope_is_refused(make_client, world):
    alpha, _ = world
    client = admin_client(make_client, team_a=Role.USER)

    response = client.post(admin_url("delete", alpha.id), {"post": "yes"})

    assert response.status_code == 403
    assert_untouched(alpha)


def test_a_user_forging_an_admin_change_of_its_own_scope_is_refused(make_client, world):
    alpha, _ = world
    client = admin_client(make_client, team_a=Role.USER)

    response = client.post(admin_url("change", alpha.id), {"tags": '["pwned"]',
                                                           "properties": "{}"})

    assert response.status_code == 403
    assert_untouched(alpha)


@pytest.mark.parametrize("action", ["delete_selected", "check_selected"])
def test_admin_bulk_actions_of_team_a_cannot_select_a_team_b_resource(
    make_client, world, action
):
    _, bravo = world
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)

    client.post(
        admin_url("changelist"),
        {"action": action, "_selected_action": [bravo.id], "post": "yes"},
    )

    assert_untouched(bravo)


def test_a_resource_admin_deletes_through_the_admin_and_the_database_is_gone(
    make_client, world
):
    alpha, bravo = world
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)
    assert database_and_login_exist(alpha) == (True, True)

    response = client.post(admin_url("delete", alpha.id), {"post": "yes"})

    assert response.status_code == 302
    assert Resource.objects.get(pk=alpha.id).status == Resource.Status.DELETED
    assert database_and_login_exist(alpha) == (False, False)
    assert_untouched(bravo)


def test_a_role_in_another_scope_grants_nothing_in_the_admin(make_client, world):
    alpha, _ = world
    client = admin_client(make_client, team_b=Role.RESOURCE_ADMIN)

    response = client.post(admin_url("delete", alpha.id), {"post": "yes"})

    assert response.status_code in (302, 404)
    assert_untouched(alpha)


def test_admin_add_form_cannot_create_in_another_scope(make_client, world, memory_provider):
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)

    response = client.post(admin_url("add"), {"scope": "team-b", "provider": memory_provider.pk,
                                              "name": "intruder", "tags_text": ""})

    assert response.status_code == 200  # the form again, with the error
    # Only the scopes where the user may create are offered, and only those are taken.
    assert "team-b is not one of the available choices" in response.content.decode()
    assert not Resource.objects.filter(name="intruder").exists()


@pytest.mark.parametrize("page", ["add", "changelist"])
def test_admin_does_not_offer_providers_reserved_for_other_scopes(
    make_client, world, memory_provider, page
):
    Provider.objects.create(key="team-b-only-instance", provider_class="postgresql",
                            host="10.9.9.9", port=5432, username="x", password="x",
                            allowed_scopes=["team-b"])
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)

    response = client.get(admin_url(page))

    assert response.status_code == 200
    assert f">{MEMORY_KEY}<" in response.content.decode()  # the instance team-a may use is offered
    assert "team-b-only-instance" not in response.content.decode()


def test_admin_audit_trail_of_team_a_holds_nothing_of_team_b(make_client, world):
    alpha, bravo = world
    client = admin_client(make_client, team_a=Role.ADMIN)

    page = client.get(reverse("admin:audit_auditentry_changelist"), {"all": ""})
    searched = client.get(reverse("admin:audit_auditentry_changelist"), {"q": bravo.id})

    assert page.status_code == 200
    assert alpha.name in page.content.decode()
    assert_reveals_nothing_of(page, bravo)
    assert "team-b" not in page.content.decode()
    assert "0 results" in searched.content.decode()
    assert bravo.name not in searched.content.decode()


def test_admin_audit_trail_shows_roles_below_admin_only_their_own_actions(make_client, world):
    alpha, bravo = world
    client = admin_client(make_client, team_a=Role.RESOURCE_ADMIN)

    page = client.get(reverse("admin:audit_auditentry_changelist"), {"all": ""})

    assert page.status_code == 200
    assert "0 audit entries" in page.content.decode()  # the owner's actions are not theirs
    assert alpha.name not in page.content.decode()
    assert_reveals_nothing_of(page, bravo)


def test_admin_platform_configuration_is_read_only_to_scope_admins(make_client, world):
    client = admin_client(make_client, team_a=Role.ADMIN)
    instance = Provider.objects.get(key=MEMORY_KEY)

    listed = client.get(reverse("admin:providers_provider_changelist"))
    changed = client.post(reverse("admin:providers_provider_change", args=[instance.pk]),
                          {"key": MEMORY_KEY, "host": "10.6.6.6", "port": "1"})

    assert listed.status_code == 200
    assert f">{MEMORY_KEY}<" in listed.content.decode()
    assert client.get(reverse("admin:providers_provider_add")).status_code == 403
    assert changed.status_code == 403
    assert Provider.objects.get(pk=instance.pk).port == instance.port


def test_a_scope_admin_sees_only_its_scopes_memberships(make_client, world):
    client = admin_client(make_client, team_a=Role.ADMIN)

    page = client.get(reverse("admin:resourcemanager_scoperole_changelist")).content.decode()

    assert "team-a" in page
    assert "team-b" not in page
