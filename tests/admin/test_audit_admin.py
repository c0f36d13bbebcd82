"""The audit trail in the admin: read-only; a scope's ADMINs read all of it, other roles
their own actions, nobody anything of another scope, filters included."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from audit.services import record
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role

CHANGELIST = reverse("admin:audit_auditentry_changelist")
#: What bob (USER of team-a) must never read: other actors' entries, team-b's.
FOREIGN = ("team-b", "bravo-owner-zq", "bravo.secret-action-zq", "bravo entry",
           "bob in team-b", "membership.grant", "ann granted", "platform entry")


@pytest.fixture
def trail(committing_db) -> dict[str, AuditEntry]:
    """Entries of ann (ADMIN of team-a), bob (USER of team-a) and of team-b."""
    return {
        "ann": record("ann", "membership.grant", "success", scope="team-a",
                      message="ann granted"),
        "bob": record("bob", "resource.check", "failure", scope="team-a",
                      message="bob checked"),
        "bob-in-b": record("bob", "resource.create", "success", scope="team-b",
                           message="bob in team-b"),
        "bravo": record("bravo-owner-zq", "bravo.secret-action-zq", "denied", scope="team-b",
                        message="bravo entry"),
        "platform": record("op", "provider.update", "success", message="platform entry"),
    }


def browser(django_user_model, username: str, **roles: Role) -> Client:
    user = django_user_model.objects.create_user(username, password=None)
    for scope, role in roles.items():
        ScopeRole.objects.create(user=user, scope=scope.replace("_", "-"), role=role)
    client = Client()
    client.force_login(user)
    return client


def listed(client: Client, query: dict | None = None) -> set[str]:
    response = client.get(CHANGELIST, query or {})
    assert response.status_code == 200
    return {entry.message for entry in response.context["cl"].result_list}


def test_an_admin_reads_its_scope_s_whole_trail(trail, django_user_model):
    ann = browser(django_user_model, "ann", team_a=Role.ADMIN)

    assert listed(ann) == {"ann granted", "bob checked"}


@pytest.mark.parametrize("role", [Role.RESOURCE_ADMIN, Role.CONSUMER_ADMIN, Role.USER])
def test_other_roles_read_only_their_own_actions(trail, django_user_model, role):
    bob = browser(django_user_model, "bob", team_a=role)

    assert listed(bob) == {"bob checked"}  # not ann's, not his own in team-b


def test_a_role_in_another_scope_reads_nothing_here(trail, django_user_model):
    carol = browser(django_user_model, "carol", team_c=Role.ADMIN)

    assert listed(carol) == set()
    response = carol.get(reverse("admin:audit_auditentry_change", args=[trail["ann"].pk]))
    missing = carol.get(reverse("admin:audit_auditentry_change", args=[987654321]))
    assert (response.status_code, response["Location"]) == (
        missing.status_code, missing["Location"])


def test_an_entry_not_readable_looks_like_one_that_never_was(trail, django_user_model):
    bob = browser(django_user_model, "bob", team_a=Role.USER)

    for entry in ("ann", "bravo"):
        foreign = bob.get(reverse("admin:audit_auditentry_change", args=[trail[entry].pk]))
        missing = bob.get(reverse("admin:audit_auditentry_change", args=[987654321]))
        assert (foreign.status_code, foreign["Location"]) == (
            missing.status_code, missing["Location"])
    own = bob.get(reverse("admin:audit_auditentry_change", args=[trail["bob"].pk]))
    assert own.status_code == 200
    assert "bob checked" in own.content.decode()


@pytest.mark.parametrize(
    "query",
    [{"scope": "team-b"}, {"scope__exact": "team-b"}, {"action": "bravo.secret-action-zq"},
     {"action__exact": "bravo.secret-action-zq"}, {"outcome__exact": "denied"},
     {"q": "bravo"}, {"actor": "bravo-owner-zq"}, {"_facets": "1"}],
    ids=str,
)
def test_filters_and_search_reach_nothing_foreign(trail, django_user_model, query):
    bob = browser(django_user_model, "bob", team_a=Role.USER)

    response = bob.get(CHANGELIST, query, follow=True)

    page = response.content.decode()
    echoed = " ".join(query.values())  # the caller's own input may come back
    for foreign in FOREIGN:
        assert foreign in echoed or foreign not in page
    assert set(response.context["cl"].result_list) <= {trail["bob"]}


def test_filter_values_are_those_of_the_readable_entries(trail, django_user_model):
    ann = browser(django_user_model, "ann", team_a=Role.ADMIN)

    response = ann.get(CHANGELIST, {"_facets": "1"})

    choices = {
        spec.title: [choice["display"] for choice in spec.choices(response.context["cl"])]
        for spec in response.context["cl"].filter_specs
    }
    assert choices["action"] == ["All", "membership.grant (1)", "resource.check (1)"]
    assert choices["scope"] == ["All", "team-a (2)"]
    assert "Past 7 days (2)" in choices["timestamp"]


def test_the_list_shows_request_id_and_target(trail, django_user_model):
    ann = browser(django_user_model, "ann", team_a=Role.ADMIN)
    with_target = AuditEntry.objects.create(
        actor="ann", scope="team-a", action="resource.delete", outcome="success",
        target_type="resource", target_name="team-a/orders", request_id="req-42-zq",
    )

    page = ann.get(CHANGELIST).content.decode()

    assert with_target.request_id in page
    assert "resource team-a/orders" in page


def test_the_trail_is_read_only_for_every_role(trail, django_user_model):
    ann = browser(django_user_model, "ann", team_a=Role.ADMIN)
    entry = trail["bob"]

    assert ann.get(reverse("admin:audit_auditentry_add")).status_code == 403
    assert ann.post(reverse("admin:audit_auditentry_change", args=[entry.pk]),
                    {"message": "rewritten"}).status_code == 403
    assert ann.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]),
                    {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).message == "bob checked"
