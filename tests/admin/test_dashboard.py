"""The admin index is a dashboard of the user's scopes: exact numbers, nothing foreign."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.services import record
from providers.models import Provider
from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from resourcemanager.scopes.models import ScopeQuota

INDEX = "/admin/"
BRAVO_ONLY_PROVIDER = "bravo-only-instance-zq"
BRAVO_MARKERS = ("team-b", "bravo", BRAVO_ONLY_PROVIDER)


def provider(key: str, allowed_scopes: list[str] | None = None, **fields) -> Provider:
    return Provider.objects.create(
        key=key, provider_class="postgresql", host="db-internal.example", port=5432,
        username="rm_admin", password="x", allowed_scopes=allowed_scopes or [], **fields,
    )


def resources(scope: str, on: Provider, count: int, *, prefix: str, **fields) -> None:
    Resource.objects.bulk_create(
        Resource(scope=scope, provider=on, type=Resource.Type.SQL, name=f"{prefix}-{i}",
                 **fields)
        for i in range(count)
    )


@pytest.fixture
def two_scopes(committing_db) -> dict[str, Provider]:
    """team-a: 3 ready and 1 failing on its providers; team-b: 7, 2 failing, on its own."""
    shared = provider("shared-pg", reachable=True)
    alpha_only = provider("alpha-only", ["team-a"], reachable=False,
                          reachability_message="cannot reach PostgreSQL at "
                                               "db-internal.example: refused")
    bravo_only = provider(BRAVO_ONLY_PROVIDER, ["team-b"])
    resources("team-a", shared, 3, prefix="alpha", status=Resource.Status.READY)
    resources("team-a", alpha_only, 1, prefix="alpha-broken", status=Resource.Status.READY,
              last_check_ok=False, last_check_message="login refused")
    resources("team-a", shared, 1, prefix="alpha-gone", status=Resource.Status.DELETED)
    resources("team-b", shared, 5, prefix="bravo", status=Resource.Status.READY)
    resources("team-b", bravo_only, 2, prefix="bravo-failing", status=Resource.Status.ERROR,
              status_message="bravo failure")
    record("someone", "resource.create", "success", scope="team-a", message="alpha event")
    record("bravo-owner", "resource.create", "success", scope="team-b",
           message="bravo event")
    return {"shared": shared, "alpha_only": alpha_only, "bravo_only": bravo_only}


def tallies(rows) -> dict[str, int]:
    return {row.label: row.count for row in rows}


@pytest.mark.parametrize("role", list(Role))
def test_a_scope_user_sees_exactly_its_scope_s_numbers(admin_browser, two_scopes, role):
    response = admin_browser(team_a=role).get(INDEX)

    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    live = Resource.objects.filter(scope="team-a").live()
    assert dashboard.total == live.count() == 4
    assert tallies(dashboard.by_status) == {"Ready": 4}
    assert tallies(dashboard.by_type) == {"SQL": 4}
    assert tallies(dashboard.by_provider) == {"alpha-only": 1, "shared-pg": 3}
    assert dashboard.failing_count == 1
    assert [r.name for r in dashboard.failing] == ["alpha-broken-0"]
    assert [p.key for p in dashboard.providers] == ["alpha-only", "shared-pg"]
    page = response.content.decode()
    for marker in BRAVO_MARKERS:
        assert marker not in page
    # The failures read neutral, with a reference: the detail is the operators'.
    assert "cannot reach PostgreSQL at" not in page
    assert "the PostgreSQL server could not be reached (ref " in page
    assert "db-internal.example" not in page
    failing = Resource.objects.get(name="alpha-broken-0")
    assert reverse("admin:resourcemanager_resource_change", args=[failing.pk]) in page


def test_recent_activity_follows_the_audit_rule(admin_browser, two_scopes):
    user = admin_browser(team_a=Role.USER)
    record(user.user.username, "resource.check", "success", scope="team-a")
    admin = admin_browser(team_a=Role.ADMIN)

    own = user.get(INDEX).context["dashboard"].audit
    everything = admin.get(INDEX).context["dashboard"].audit

    assert [(e.actor, e.action) for e in own] == [(user.user.username, "resource.check")]
    assert {e.actor for e in everything} == {user.user.username, "someone"}
    assert {e.scope for e in everything} == {"team-a"}


def test_operators_see_every_scope(admin_browser, two_scopes):
    dashboard = admin_browser(operator=True).get(INDEX).context["dashboard"]

    assert dashboard.total == Resource.objects.live().count() == 11
    assert tallies(dashboard.by_status) == {"Ready": 9, "Error": 2}
    assert dashboard.failing_count == 3
    assert {p.key for p in dashboard.providers} == {
        "shared-pg", "alpha-only", BRAVO_ONLY_PROVIDER}
    assert {e.scope for e in dashboard.audit} >= {"team-a", "team-b"}


@pytest.mark.parametrize("role", list(Role))
def test_usage_by_scope_meters_only_the_scopes_of_the_user(admin_browser, two_scopes, role):
    Resource.objects.filter(name__startswith="alpha").update(size=1000)
    Resource.objects.filter(name="alpha-0").update(size_objects=7, frozen=True)
    Resource.objects.filter(name__startswith="bravo").update(size=10**6)
    ScopeQuota.objects.create(scope="team-a", max_bytes=10**4)

    response = admin_browser(team_a=role).get(INDEX)

    [meter] = response.context["dashboard"].metering
    assert (meter.scope, meter.max_bytes) == ("team-a", 10**4)
    assert (meter.usage.bytes, meter.usage.objects, meter.usage.resources,
            meter.usage.frozen, meter.usage.operations) == (4000, 7, 4, 1, 1)
    assert "Usage by scope" in response.content.decode()
    operator = admin_browser(operator=True).get(INDEX).context["dashboard"].metering
    assert {(m.scope, m.usage.bytes) for m in operator} == {
        ("team-a", 4000), ("team-b", 7 * 10**6)}


def index_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(INDEX).status_code == 200
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_rows(admin_browser, committing_db):
    shared, other = provider("shared-pg"), provider("other-pg")
    client = admin_browser(team_a=Role.RESOURCE_ADMIN)
    resources("team-a", shared, 5, prefix="few", status=Resource.Status.READY)
    resources("team-a", other, 5, prefix="few-failing", status=Resource.Status.ERROR)
    few = index_queries(client)

    resources("team-a", shared, 45, prefix="many", status=Resource.Status.READY)
    resources("team-a", other, 45, prefix="many-failing", status=Resource.Status.ERROR,
              last_check_ok=False)
    for i in range(50):
        record("someone", f"resource.action{i}", "success", scope="team-a")

    assert client.get(INDEX).context["dashboard"].total == 100
    assert index_queries(client) == few


def test_an_empty_dashboard_offers_to_add_only_to_those_who_may(admin_browser, committing_db):
    creator = admin_browser(team_a=Role.RESOURCE_ADMIN).get(INDEX).content.decode()
    reader = admin_browser(team_a=Role.USER).get(INDEX).content.decode()

    add = reverse("admin:resourcemanager_resource_add")
    assert "No resources yet" in creator
    assert add in creator
    assert "No resources yet" in reader
    assert add not in reader


def test_the_app_list_stays_on_the_index(admin_browser, committing_db):
    page = admin_browser(team_a=Role.USER).get(INDEX).content.decode()

    assert reverse("admin:resourcemanager_resource_changelist") in page
    assert reverse("admin:providers_provider_changelist") in page


def test_a_user_without_a_role_gets_no_dashboard(admin_browser, two_scopes):
    response = admin_browser().get(INDEX)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
