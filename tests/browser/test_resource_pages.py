"""The admin in a real browser: a resource's life from the add form (the provider's
properties as fields) to its deletion, scope isolation as a browser sees it, and what a
USER may not do.

Locators go by role, label and text, not by the stock admin's CSS classes.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from playwright.sync_api import Page, expect

from providers.models import Provider
from resourcemanager.identity.roles import SYSTEM, Role
from resourcemanager.resources import services
from resourcemanager.resources.models import Resource
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, pg_admin_connect

RESOURCES = "/admin/resourcemanager/resource/"


def make_resource(scope: str, name: str, provider: str = "pg") -> Resource:
    request = services.prepare_resource(SYSTEM, scope, provider=provider, name=name)
    resource = services.create_resource(SYSTEM, request)
    resource.refresh_from_db()
    assert resource.status == Resource.Status.READY
    return resource


def database_exists(name: str) -> bool:
    with pg_admin_connect() as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def csrf_token(page: Page) -> str:
    return page.locator("input[name=csrfmiddlewaretoken]").first.input_value()


def test_a_resource_admin_creates_uses_checks_and_deletes_a_database(page, member, pg_provider):
    member("ra-alpha", team_a=Role.RESOURCE_ADMIN)
    sign_in(page, "ra-alpha")

    page.goto(RESOURCES)
    page.get_by_role("link", name=re.compile("Add resource")).click()
    expect(page.get_by_label("Scope")).to_have_value("team-a")  # the only one it may use
    page.get_by_label("Name").fill("orders")
    page.get_by_label("Tags").fill("analytics")
    page.get_by_label("Provider").select_option(label="pg")
    # The page comes back with the provider's properties as fields, typed values kept.
    limit = page.get_by_role("spinbutton", name="Connection limit")
    expect(limit).to_have_attribute("min", "1")
    expect(limit).to_have_attribute("max", "10000")
    expect(page.get_by_label("Name")).to_have_value("orders")
    expect(page.get_by_label("Tags")).to_have_value("analytics")
    limit.fill("3")
    screenshot(page, "resource-add")
    page.get_by_role("button", name="Save", exact=True).click()

    # Provider operations run in the server's process: the resource is ready at once.
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="orders"))
    expect(row).to_contain_text("Ready")
    screenshot(page, "resource-list")
    resource = Resource.objects.get(name="orders")

    assert resource.properties == {"connection_limit": 3}
    with pg_admin_connect() as conn:
        limit_on_server = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s",
                                       (resource.backend_name,)).fetchone()
    assert limit_on_server == (3,)

    row.get_by_role("link", name="orders").click()
    expect(page.get_by_role("heading", name="Credentials", exact=True)).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Connection limit")).to_have_value("3")
    expect(page.get_by_label("Host", exact=True)).to_have_value(PG_HOST)
    expect(page.get_by_label("Username", exact=True)).to_have_value(resource.backend_name)
    expect(page.get_by_label("Password", exact=True)).to_have_value("********")
    psql = page.get_by_role("textbox", name="psql")
    expect(psql).to_have_value(re.compile(re.escape("PGPASSWORD='********' psql")))
    screenshot(page, "resource-detail")

    page.get_by_role("button", name="Copy Connection URI").click()
    expect(page.get_by_role("status")).to_have_text("Copied: Connection URI")
    copied = page.evaluate("navigator.clipboard.readText()")

    page.get_by_role("button", name="Show secrets").click()
    uri = page.get_by_role("textbox", name="Connection URI")
    expect(uri).not_to_have_value(re.compile(r"\*{8}"))
    assert uri.input_value() == copied == resource.credentials["uri"]
    expect(psql).to_have_value(re.compile(re.escape(resource.credentials["password"])))
    with psycopg.connect(copied, connect_timeout=5, autocommit=True) as conn:
        conn.execute("CREATE TABLE proof (v text)")
        assert conn.execute("SELECT current_database()").fetchone() == (resource.backend_name,)
    page.get_by_role("button", name="Hide secrets").click()
    expect(page.get_by_label("Password", exact=True)).to_have_value("********")

    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_text("Check of team-a/orders: OK")).to_be_visible()
    expect(page.get_by_role("table").filter(has_text="resource.check")).to_be_visible()

    page.goto("/admin/")
    screenshot(page, "dashboard")
    page.go_back()

    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_text(
        f"team-a/orders: drops database {resource.backend_name} and login "
        f"{resource.backend_name} on pg, with all its data"
    )).to_be_visible()
    page.get_by_role("button", name="Yes, I\u2019m sure").click()
    expect(page.get_by_text(re.compile("deleted successfully"))).to_be_visible()

    resource.refresh_from_db()
    assert resource.status == Resource.Status.DELETED
    assert not database_exists(resource.backend_name)


@pytest.fixture
def bravo(pg_provider) -> Resource:
    """team-b's resource, on a provider instance reserved for team-b."""
    Provider.objects.create(
        key="bravo-reserved", provider_class="postgresql", host=PG_HOST, port=PG_PORT,
        username=PG_USER, password=PG_PASSWORD, options={"database": "postgres"},
        allowed_scopes=["team-b"],
    )
    return make_resource("team-b", "bravo-secret-plans", provider="bravo-reserved")


def test_a_user_of_team_a_finds_nothing_of_team_b(page, member, pg_provider, bravo):
    alpha_reserved = Provider.objects.create(
        key="alpha-reserved", provider_class="postgresql", host=PG_HOST, port=PG_PORT,
        username=PG_USER, password=PG_PASSWORD, options={"database": "postgres"},
        allowed_scopes=["team-a"],
    )
    make_resource("team-a", "alpha-orders")
    make_resource("team-a", "alpha-reports", provider="alpha-reserved")
    member("alpha", team_a=Role.ADMIN)
    markers = [bravo.name, "bravo-reserved", "team-b", bravo.backend_name, str(bravo.pk)]

    def shows_nothing_of_team_b() -> None:
        body = page.content()
        assert not [marker for marker in markers if marker in body], page.url

    sign_in(page, "alpha")
    page.goto(RESOURCES)
    expect(page.get_by_role("link", name="alpha-orders")).to_be_visible()
    shows_nothing_of_team_b()
    # The filter sidebar lists providers and scopes of visible rows only.
    expect(page.get_by_role("link", name="pg", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="alpha-reserved", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="team-a", exact=True)).to_be_visible()

    page.goto(f"{RESOURCES}?q=secret-plans")
    expect(page.get_by_text("0 resources")).to_be_visible()
    shows_nothing_of_team_b()

    for view in ("change", "history", "delete"):
        page.goto(f"{RESOURCES}{bravo.pk}/{view}/")
        expect(page.get_by_text(re.compile("doesn\u2019t exist"))).to_be_visible()
        assert page.url.endswith("/admin/")  # sent to the index, as for an unknown id
        body = page.content().replace(str(bravo.pk), "<the id asked for>")
        assert not [marker for marker in markers[:4] if marker in body]

    page.goto(RESOURCES)
    token = csrf_token(page)
    for action in ("credentials", "check"):
        answer = page.request.post(f"{RESOURCES}{bravo.pk}/{action}/",
                                   form={"csrfmiddlewaretoken": token})
        assert answer.status == 404
        assert bravo.credentials["password"] not in answer.text()

    # Django answers for any relation whose target admin has search fields, declared as
    # an autocomplete field or not: providers are searchable, users are operators' only.
    for field, status in (("provider", 200), ("created_by", 403)):
        answer = page.request.get("/admin/autocomplete/", params={
            "app_label": "resourcemanager", "model_name": "resource", "field_name": field,
            "term": "reserved",
        })
        assert answer.status == status, field
        assert not [marker for marker in markers if marker in answer.text()], field
        if status == 200:
            assert answer.json()["results"] == [{"id": str(alpha_reserved.pk),
                                                 "text": "alpha-reserved"}]

    bravo.refresh_from_db()
    assert bravo.status == Resource.Status.READY
    assert bravo.last_check_at is None


def test_a_user_may_look_and_check_but_not_add_or_delete(page, member, pg_provider):
    orders = make_resource("team-a", "orders")
    member("reader", team_a=Role.USER)
    delete_url = f"{RESOURCES}{orders.pk}/delete/"

    sign_in(page, "reader")
    page.goto(RESOURCES)
    expect(page.get_by_role("link", name="orders")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Add resource"))).to_have_count(0)

    page.get_by_role("link", name="orders").click()
    expect(page.get_by_label("Host", exact=True)).to_have_value(PG_HOST)
    expect(page.get_by_role("link", name=re.compile("Delete"))).to_have_count(0)
    expect(page.get_by_role("button", name="Check now")).to_be_visible()

    token = csrf_token(page)
    forged = page.request.post(delete_url, form={"csrfmiddlewaretoken": token, "post": "yes"})
    assert forged.status == 403
    bulk = page.request.post(RESOURCES, form={
        "csrfmiddlewaretoken": token, "action": "delete_selected", "post": "yes",
        "_selected_action": str(orders.pk),
    })
    assert bulk.status in (200, 302)

    orders.refresh_from_db()
    assert orders.status == Resource.Status.READY
    assert database_exists(orders.backend_name)
