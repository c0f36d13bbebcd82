"""Scope memberships in the admin: a scope's ADMINs manage them, under the rules."""

import pytest
from django.test import Client

from audit.models import AuditEntry
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role

CHANGELIST = "/admin/resourcemanager/scoperole/"


@pytest.fixture
def people(committing_db, django_user_model):
    users = {name: django_user_model.objects.create_user(name, password="x" * 20)
             for name in ("ann", "ben", "cat", "dan")}
    ScopeRole.objects.create(user=users["ann"], scope="team-a", role=Role.ADMIN)
    ScopeRole.objects.create(user=users["ben"], scope="team-a", role=Role.RESOURCE_ADMIN)
    ScopeRole.objects.create(user=users["dan"], scope="team-b", role=Role.ADMIN)
    return users


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def grant(client: Client, username: str, scope: str, role: str):
    return client.post(f"{CHANGELIST}add/", {"username": username, "scope": scope, "role": role})


def test_a_scope_admin_grants_a_role_in_its_scope(people):
    response = grant(signed_in(people["ann"]), "cat", "team-a", "USER")

    assert response.status_code == 302, response.content.decode()[:2000]
    assert ScopeRole.objects.filter(user=people["cat"], scope="team-a", role="USER").exists()
    entry = AuditEntry.objects.get(action="membership.grant")
    assert (entry.actor, entry.scope) == ("ann", "team-a")


@pytest.mark.parametrize(("username", "scope", "role"), [
    ("cat", "team-b", "USER"),  # no role in team-b
    ("ann", "team-a", "USER"),  # her own roles
    ("nobody", "team-a", "USER"),  # no such user: refused alike
])
def test_grants_outside_the_rules_are_refused(people, username, scope, role):
    response = grant(signed_in(people["ann"]), username, scope, role)

    assert response.status_code == 200
    assert "this grant is not allowed" in response.content.decode()
    assert not ScopeRole.objects.filter(scope=scope, role=role,
                                        user__username=username).exists()


def test_only_admins_manage_memberships(people):
    client = signed_in(people["ben"])  # RESOURCE_ADMIN of team-a

    assert client.get(CHANGELIST).status_code == 403
    assert grant(client, "cat", "team-a", "ADMIN").status_code == 403
    assert not ScopeRole.objects.filter(user=people["cat"]).exists()


def test_an_admin_sees_only_its_scopes_memberships(people):
    page = signed_in(people["ann"]).get(CHANGELIST).content.decode()

    assert "ben" in page
    assert "dan" not in page
    assert "team-b" not in page


def test_the_last_admin_of_a_scope_stays(people):
    lone_admin = ScopeRole.objects.get(user=people["dan"])
    operator = Client()
    operator.force_login(type(people["ann"]).objects.create_superuser("op", password="x" * 20))

    page = operator.get(f"{CHANGELIST}{lone_admin.pk}/delete/", follow=True)
    response = operator.post(f"{CHANGELIST}{lone_admin.pk}/delete/", {"post": "yes"})

    # Back to its page, saying why, instead of a bare refusal.
    assert page.redirect_chain[-1][0] == f"{CHANGELIST}{lone_admin.pk}/change/"
    assert "the last ADMIN of a scope cannot be removed" in page.content.decode()
    assert ScopeRole.objects.filter(pk=lone_admin.pk).exists(), response.status_code


def test_an_admin_removes_another_member(people):
    ben = ScopeRole.objects.get(user=people["ben"])

    signed_in(people["ann"]).post(f"{CHANGELIST}{ben.pk}/delete/", {"post": "yes"})

    assert not ScopeRole.objects.filter(pk=ben.pk).exists()
    assert AuditEntry.objects.filter(action="membership.revoke", actor="ann").exists()


def test_an_admin_cannot_remove_a_foreign_scopes_member(people):
    dan = ScopeRole.objects.get(user=people["dan"])

    response = signed_in(people["ann"]).post(f"{CHANGELIST}{dan.pk}/delete/", {"post": "yes"})

    assert response.status_code in (302, 403, 404)
    assert ScopeRole.objects.filter(pk=dan.pk).exists()


@pytest.mark.parametrize("viewer", ["ann", "operator"])
def test_a_membership_s_page_names_its_user(people, viewer):
    ben = ScopeRole.objects.get(user=people["ben"])
    user = people.get(viewer) or type(people["ann"]).objects.create_superuser("op")

    response = signed_in(user).get(f"{CHANGELIST}{ben.pk}/change/")

    assert response.status_code == 200
    shown = {field.field["name"]: field.contents() for fieldset in response.context["adminform"]
             for line in fieldset for field in line}
    assert shown["username"] == "ben"


def test_a_bulk_removal_the_rules_forbid_says_which_rule(people):
    own, ben = (ScopeRole.objects.get(user=people[name]) for name in ("ann", "ben"))
    lone_admin = ScopeRole.objects.get(user=people["dan"])
    operator = type(people["ann"]).objects.create_superuser("op")

    def remove(user, *memberships, post: bool = False):
        data = {"action": "delete_selected", "_selected_action": [m.pk for m in memberships]}
        return signed_in(user).post(CHANGELIST, {**data, "post": "yes"} if post else data)

    ann_asks = remove(people["ann"], own, ben).content.decode()
    operator_asks = remove(operator, lone_admin).content.decode()

    assert "ann ADMIN in team-a: nobody changes their own roles" in ann_asks
    assert "dan ADMIN in team-b: the last ADMIN of a scope cannot be removed" in operator_asks
    for page in (ann_asks, operator_asks):
        assert "doesn\u2019t have permission" not in page and "doesn't have permission" not in page
        assert "Yes, I\u2019m sure" not in page
    assert remove(people["ann"], own, ben, post=True).status_code == 403
    assert ScopeRole.objects.filter(pk__in=[own.pk, ben.pk, lone_admin.pk]).count() == 3
