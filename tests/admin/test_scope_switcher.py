"""The header's scope switcher: it narrows every scoped page and the dashboard, never widens."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.services import record
from consumers.models import Consumer
from providers.models import Provider
from resourcemanager.identity.access import principal_for
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from resourcemanager.ui.adminscope import SESSION_KEY, switchable_scopes

SWITCH = "/admin/scope/"
PAGES = {
    "resources": "/admin/resourcemanager/resource/",
    "consumers": "/admin/consumers/consumer/",
    "audit": "/admin/audit/auditentry/",
    "memberships": "/admin/resourcemanager/scoperole/",
}
SCOPES = ("team-a", "team-b", "team-c")


@pytest.fixture
def world(committing_db, django_user_model) -> None:
    """In each scope: a resource, a consumer, an audit entry and a member, named after it."""
    shared = Provider.objects.create(
        key="shared-pg", provider_class="postgresql", host="db.example", port=5432,
        username="rm_admin", password="x",
    )
    for scope in SCOPES:
        marker = scope.replace("team-", "marker")  # markera, markerb, markerc
        Resource.objects.create(scope=scope, provider=shared, type=Resource.Type.SQL,
                                name=f"{marker}-db", status=Resource.Status.READY)
        Consumer.objects.create(scope=scope, builder="log", name=f"{marker}-hook")
        record("someone", "resource.create", "success", scope=scope, message=f"{marker} event")
        member = django_user_model.objects.create_user(f"{marker}-member", password=None)
        ScopeRole.objects.create(user=member, scope=scope, role=Role.USER)


def shown(client: Client) -> dict[str, set[str]]:
    """Per page, which scopes' markers it shows; and the dashboard's resource count."""
    result = {}
    for page, url in PAGES.items():
        response = client.get(url)
        assert response.status_code == 200, page
        body = response.content.decode()
        result[page] = {scope for scope in SCOPES if scope.replace("team-", "marker") in body}
    result["dashboard"] = client.get("/admin/").context["dashboard"].total
    return result


def switch(client: Client, scope: str, next_url: str = "/admin/") -> str:
    response = client.post(SWITCH, {"scope": scope, "next": next_url})
    assert response.status_code == 302
    return response["Location"]


def test_switching_narrows_every_scoped_page_and_the_dashboard(world, admin_browser):
    client = admin_browser(team_a=Role.ADMIN, team_b=Role.ADMIN)
    both = {"team-a", "team-b"}
    assert shown(client) == {page: both for page in PAGES} | {"dashboard": 2}
    header = client.get("/admin/").content.decode()
    assert "All my scopes" in header
    assert '<option value="team-a">team-a</option>' in header
    assert "team-c" not in header

    assert switch(client, "team-a", PAGES["consumers"]) == PAGES["consumers"]

    assert shown(client) == {page: {"team-a"} for page in PAGES} | {"dashboard": 1}
    header = client.get(PAGES["resources"]).content.decode()
    assert '<option value="team-a" selected>team-a</option>' in header
    bravo = Resource.objects.get(scope="team-b")
    detail = client.get(reverse("admin:resourcemanager_resource_change", args=[bravo.pk]))
    assert detail.status_code == 302  # "doesn't exist" while narrowed to team-a

    switch(client, "")
    assert shown(client)["resources"] == both


@pytest.mark.parametrize("start", ["", "team-a"])
def test_a_scope_without_a_role_cannot_be_chosen(world, admin_browser, start):
    client = admin_browser(team_a=Role.ADMIN, team_b=Role.USER)
    switch(client, start)
    before = shown(client)

    for forged in ("team-c", "Not A Scope!", "team-a ", "x" * 200):
        switch(client, forged)
        assert shown(client) == before
        assert client.session.get(SESSION_KEY) == (start or None)
    page = client.post(SWITCH, {"scope": "team-c", "next": "/admin/"}, follow=True)
    assert "You hold no role in that scope" in page.content.decode()


def test_a_forged_session_value_is_dropped(world, admin_browser):
    client = admin_browser(team_a=Role.ADMIN)
    session = client.session
    session[SESSION_KEY] = "team-c"
    session.save()

    assert shown(client) == {page: {"team-a"} for page in PAGES} | {"dashboard": 1}
    assert SESSION_KEY not in client.session


def test_a_role_removed_after_switching_falls_back_to_all(world, admin_browser):
    client = admin_browser(team_a=Role.ADMIN, team_b=Role.ADMIN)
    switch(client, "team-b")
    assert shown(client)["resources"] == {"team-b"}

    ScopeRole.objects.filter(user=client.user, scope="team-b").delete()

    assert shown(client) == {page: {"team-a"} for page in PAGES} | {"dashboard": 1}
    assert "All my scopes" in client.get("/admin/").content.decode()


def test_operators_may_switch_to_every_known_scope(world, admin_browser, settings):
    operator = admin_browser(operator=True)
    Resource.objects.filter(scope="team-c").delete()  # team-c is known by its member only
    page = operator.get("/admin/").content.decode()
    for scope in SCOPES:
        assert f'<option value="{scope}">{scope}</option>' in page

    switch(operator, "team-c")
    assert shown(operator) == {page: {"team-c"} for page in PAGES} | {
        "resources": set(), "dashboard": 0}

    settings.RM_SCOPE_LIST = ["team-a", "team-z"]
    operator.get("/admin/")  # team-c no longer exists: back to all
    assert SESSION_KEY not in operator.session
    assert switchable_scopes(principal_for(operator.user)) == ["team-a", "team-z"]
    switch(operator, "team-z")
    assert operator.session[SESSION_KEY] == "team-z"


def test_the_operator_s_scope_list_takes_one_query(world, django_user_model,
                                                   django_assert_num_queries):
    user = django_user_model.objects.create_superuser("counted", password=None)
    principal = principal_for(user)  # its own query, made once per request

    with django_assert_num_queries(1):
        assert switchable_scopes(principal) == list(SCOPES)


@pytest.mark.parametrize("target", [
    "https://evil.example/admin/", "//evil.example/admin/", "http://testserver@evil.example/",
    "javascript:alert(1)", "",
])
def test_the_redirect_never_leaves_the_site(world, admin_browser, target):
    client = admin_browser(team_a=Role.ADMIN)

    assert switch(client, "team-a", target) == "/admin/"


def test_the_redirect_goes_back_to_the_page_it_came_from(world, admin_browser):
    client = admin_browser(team_a=Role.ADMIN)
    here = f"{PAGES['resources']}?q=marker&status__exact=ready"

    assert switch(client, "team-a", here) == here


def test_the_switch_takes_only_a_post_with_a_csrf_token(world, admin_browser, django_user_model):
    client = admin_browser(team_a=Role.ADMIN)
    assert client.get(SWITCH).status_code == 405

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(client.user)
    assert strict.post(SWITCH, {"scope": "team-a"}).status_code == 403

    anonymous = Client().post(SWITCH, {"scope": "team-a"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")


def test_new_rows_start_in_the_current_scope(world, admin_browser):
    client = admin_browser(team_a=Role.ADMIN, team_b=Role.ADMIN)
    switch(client, "team-b")

    form = client.get(f"{PAGES['memberships']}add/").context["adminform"].form
    assert form.initial["scope"] == "team-b"


def test_the_provider_list_follows_the_switcher_for_tenants(world, admin_browser):
    for scope in ("team-a", "team-b"):
        Provider.objects.create(key=f"only-{scope}", provider_class="postgresql",
                                host="db.example", port=5432, username="rm_admin",
                                password="x", allowed_scopes=[scope])
    client = admin_browser(team_a=Role.USER, team_b=Role.USER)
    operator = admin_browser(operator=True)

    def listed(who: Client) -> set[str]:
        body = who.get("/admin/providers/provider/").content.decode()
        return {key for key in ("shared-pg", "only-team-a", "only-team-b") if key in body}

    assert listed(client) == {"shared-pg", "only-team-a", "only-team-b"}
    switch(client, "team-a")
    assert listed(client) == {"shared-pg", "only-team-a"}
    switch(operator, "team-a")
    assert listed(operator) == {"shared-pg", "only-team-a", "only-team-b"}  # manages all
