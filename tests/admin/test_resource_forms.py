"""The admin's resource forms: the provider's properties as fields, through the service."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from audit.models import AuditEntry
from providers.models import Provider
from resourcemanager.identity.roles import Role
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources.models import Resource
from tests.api.test_resource_properties import rolconnlimit
from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER

RESOURCES = "/admin/resourcemanager/resource/"
ADD = f"{RESOURCES}add/"
LIMIT = "property_connection_limit"


def browser_of(api_client) -> Client:
    """A signed-in admin browser of the same user as ``api_client``."""
    client = Client()
    client.force_login(api_client.user)
    client.user = api_client.user
    return client


@pytest.fixture
def alpha(make_client) -> Client:
    """A RESOURCE_ADMIN of team-a, in the admin."""
    return browser_of(make_client(team_a=Role.RESOURCE_ADMIN))


@pytest.fixture
def bravo_provider(pg_provider) -> Provider:
    """The same server, as an instance reserved for team-b."""
    return Provider.objects.create(
        key="bravo-pg", provider_class="postgresql", host=PG_HOST, port=PG_PORT,
        username=PG_USER, password=PG_PASSWORD, options={"database": "postgres"},
        allowed_scopes=["team-b"],
    )


def add(client: Client, provider: Provider, **fields):
    data = {"scope": "team-a", "provider": provider.pk, "name": "orders", "tags_text": ""}
    return client.post(f"{ADD}?provider={provider.pk}", data | fields)


def change_url(resource: Resource) -> str:
    return f"{RESOURCES}{resource.pk}/change/"


def test_the_add_form_shows_the_chosen_provider_s_properties(alpha, pg_provider):
    before = alpha.get(ADD).content.decode()
    assert 'name="tags_text"' in before
    assert LIMIT not in before  # no provider chosen yet

    page = alpha.get(f"{ADD}?provider={pg_provider.pk}&name=orders&tags_text=a,+b").content
    page = page.decode()

    field = re.search(rf'<input [^>]*name="{LIMIT}"[^>]*>', page)[0]
    assert 'type="number"' in field
    assert 'min="1"' in field
    assert 'max="10000"' in field
    assert '<label for="id_property_connection_limit">Connection limit:</label>' in page
    assert "Most concurrent sessions the resource's login may hold" in page
    assert 'value="orders"' in page  # what was typed before the provider was chosen
    assert 'name="properties"' not in page  # no raw JSON any more


def test_creating_with_a_connection_limit_sets_it_on_the_server(alpha, pg_provider):
    response = add(alpha, pg_provider, tags_text="analytics, prod", **{LIMIT: "3"})

    assert response.status_code == 302, response.content.decode()[:3000]
    resource = Resource.objects.get()
    assert resource.status == Resource.Status.READY
    assert resource.properties == {"connection_limit": 3}
    assert resource.tags == ["analytics", "prod"]
    assert rolconnlimit(resource.credentials["username"]) == 3


def test_an_empty_limit_is_the_default_unlimited(alpha, pg_provider):
    assert add(alpha, pg_provider, **{LIMIT: ""}).status_code == 302

    resource = Resource.objects.get()
    assert resource.properties == {"connection_limit": None}
    assert rolconnlimit(resource.credentials["username"]) == -1


@pytest.mark.parametrize(("value", "error"), [
    ("0", "greater than or equal to 1"),
    ("x", "Enter a whole number"),
    ("10001", "less than or equal to 10000"),
])
def test_a_bad_limit_is_a_form_error_and_creates_nothing(alpha, pg_provider, value, error):
    response = add(alpha, pg_provider, **{LIMIT: value})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Resource.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_bad_tags_are_shown_beside_the_tags_field(alpha, pg_provider):
    response = add(alpha, pg_provider, tags_text="Not A Tag")

    assert response.status_code == 200
    assert "tags_text" in response.context["adminform"].form.errors
    assert not Resource.objects.exists()


def test_a_provider_of_another_scope_cannot_be_chosen(alpha, bravo_provider):
    page = alpha.get(f"{ADD}?provider={bravo_provider.pk}").content.decode()
    assert "bravo-pg" not in page
    assert LIMIT not in page

    response = add(alpha, bravo_provider, **{LIMIT: "3"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Resource.objects.exists()


def test_a_provider_usable_in_another_of_one_s_scopes_is_refused_for_this_one(
    make_client, bravo_provider
):
    both = browser_of(make_client(team_a=Role.RESOURCE_ADMIN, team_b=Role.RESOURCE_ADMIN))
    offered = both.get(f"{ADD}?scope=team-a").context["adminform"].form.fields["provider"]
    assert [p.key for p in offered.queryset] == ["pg"]

    response = add(both, bravo_provider)

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Resource.objects.exists()
    assert add(both, bravo_provider, scope="team-b").status_code == 302


def test_the_scope_choices_are_those_where_one_may_create(make_client, pg_provider):
    client = browser_of(make_client(team_a=Role.RESOURCE_ADMIN, team_b=Role.USER))

    form = client.get(ADD).context["adminform"].form
    assert [value for value, _ in form.fields["scope"].choices] == ["team-a"]
    assert add(client, pg_provider, scope="team-b").status_code == 200
    assert not Resource.objects.exists()


def test_without_javascript_a_button_shows_the_provider_s_properties(alpha, pg_provider):
    response = alpha.post(ADD, {"scope": "team-a", "provider": pg_provider.pk,
                                "name": "orders", "tags_text": "x", "_rm_choose": ""})

    assert response.status_code == 302
    assert response["Location"] == (
        f"{ADD}?scope=team-a&provider={pg_provider.pk}&name=orders&tags_text=x")
    assert not Resource.objects.exists()


def test_the_change_form_updates_the_limit_and_the_tags(alpha, pg_provider):
    add(alpha, pg_provider, tags_text="old", **{LIMIT: "3"})
    resource = Resource.objects.get()
    page = alpha.get(change_url(resource)).content.decode()
    assert re.search(rf'<input [^>]*name="{LIMIT}"[^>]*value="3"', page)
    assert 'name="tags_text"' in page and 'value="old"' in page
    assert 'name="properties"' not in page and 'name="tags"' not in page
    assert "field-last_check_message" not in page  # the status panel shows it
    assert "field-status" not in page

    response = alpha.post(change_url(resource), {"tags_text": "new, analytics", LIMIT: "7"})

    assert response.status_code == 302, response.content.decode()[:3000]
    resource.refresh_from_db()
    assert resource.tags == ["new", "analytics"]
    assert resource.properties == {"connection_limit": 7}
    assert rolconnlimit(resource.credentials["username"]) == 7


def test_a_bad_change_is_a_form_error_and_changes_nothing(alpha, pg_provider):
    add(alpha, pg_provider, **{LIMIT: "3"})
    resource = Resource.objects.get()

    response = alpha.post(change_url(resource), {"tags_text": "x", LIMIT: "0"})

    assert response.status_code == 200
    resource.refresh_from_db()
    assert resource.properties == {"connection_limit": 3}
    assert resource.tags == []
    assert rolconnlimit(resource.credentials["username"]) == 3


def test_unmanaged_resources_are_read_only(make_client, pg_provider):
    api = make_client(team_a=Role.RESOURCE_ADMIN)
    registered = api.post("/api/c/team-a/resources/add", {
        "provider": "pg", "name": "external", "tags": ["ext"],
        "uri": "postgresql://someone:secret@db.example:5432/theirs",
    }, format="json")
    assert registered.status_code == 201, registered.json()
    resource = Resource.objects.get(name="external")
    client = browser_of(api)

    page = client.get(change_url(resource)).content.decode()
    assert LIMIT not in page
    assert 'name="tags_text"' not in page
    assert "ext" in page  # shown, not editable
    assert client.post(change_url(resource), {"tags_text": "changed"}).status_code == 403
    resource.refresh_from_db()
    assert resource.tags == ["ext"]


def trail(resource_id) -> tuple[list, list]:
    """What an operation left: audit (action, outcome) and outbox (kind, name), in order."""
    audit = AuditEntry.objects.filter(target_id=str(resource_id)).order_by("timestamp", "id")
    outbox = OutboxMessage.objects.filter(resource_id=resource_id).order_by("id")
    return list(audit.values_list("action", "outcome")), list(outbox.values_list("kind", "name"))


def test_the_admin_leaves_the_same_trail_as_the_api(make_client, pg_provider):
    api = make_client(team_a=Role.RESOURCE_ADMIN)
    client = browser_of(api)

    created = api.post("/api/c/team-a/resources", {
        "provider": "pg", "name": "by-api", "tags": ["a"],
        "properties": {"connection_limit": 3}}, format="json")
    assert created.status_code == 201
    by_api = created.json()["id"]
    assert add(client, pg_provider, name="by-admin", tags_text="a", **{LIMIT: "3"}).status_code \
        == 302
    by_admin = Resource.objects.get(name="by-admin").pk
    assert trail(by_admin) == trail(by_api)

    assert api.patch(f"/api/c/team-a/resources/{by_api}", {
        "tags": ["b"], "properties": {"connection_limit": 4}}, format="json").status_code == 200
    by_admin_resource = Resource.objects.get(pk=by_admin)
    assert client.post(change_url(by_admin_resource),
                       {"tags_text": "b", LIMIT: "4"}).status_code == 302
    assert trail(by_admin) == trail(by_api)

    assert api.patch(f"/api/c/team-a/resources/{by_api}", {"tags": ["c"]},
                     format="json").status_code == 200
    assert client.post(change_url(by_admin_resource),
                       {"tags_text": "c", LIMIT: "4"}).status_code == 302
    assert trail(by_admin) == trail(by_api)

    assert api.delete(f"/api/c/team-a/resources/{by_api}").status_code == 202
    assert client.post(f"{RESOURCES}{by_admin}/delete/", {"post": "yes"}).status_code == 302
    assert trail(by_admin) == trail(by_api)
    assert ("resource.delete", "success") in trail(by_admin)[0]


def test_the_tag_filter_offers_only_visible_tags(make_client, pg_provider, bravo_provider):
    alpha_api = make_client(team_a=Role.RESOURCE_ADMIN)
    bravo_api = make_client(team_b=Role.RESOURCE_ADMIN)
    for api, scope, provider, tags in (
        (alpha_api, "team-a", "pg", ["analytics", "prod"]),
        (alpha_api, "team-a", "pg", ["prod"]),
        (bravo_api, "team-b", "bravo-pg", ["bravo-secret-tag"]),
    ):
        response = api.post(f"/api/c/{scope}/resources", {
            "provider": provider, "name": f"r{len(tags)}{tags[0]}", "tags": tags},
            format="json")
        assert response.status_code == 201
    client = browser_of(alpha_api)

    response = client.get(RESOURCES)
    tag_filter = next(f for f in response.context["cl"].filter_specs if f.title == "tag")
    assert [value for value, _ in tag_filter.lookup_choices] == ["analytics", "prod"]
    assert "bravo-secret-tag" not in response.content.decode()

    filtered = client.get(RESOURCES, {"tag": "analytics"}).context["cl"].result_list
    assert [r.name for r in filtered] == ["r2analytics"]
    assert not client.get(RESOURCES, {"tag": "bravo-secret-tag"}).context["cl"].result_list


def test_api_tokens_are_labelled_so(alpha):
    assert "API tokens" in alpha.get("/admin/").content.decode()
