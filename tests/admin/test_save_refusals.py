"""A service's refusal when an admin form is saved (a full quota, a taken name) shows on
the form again, as a validation error does, and nothing is saved."""

from __future__ import annotations

from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from resourcemanager.scopes.models import ScopeQuota
from tests.admin.conftest import ready_resource

ADD = "/admin/resourcemanager/resource/add/"


def add_resource(client, provider, name: str = "orders"):
    return client.post(ADD, {"scope": "team-a", "provider": provider.pk, "name": name,
                             "tags_text": ""})


def test_adding_over_the_quota_is_a_form_error(admin_browser, memory_provider):
    ready_resource(memory_provider.key, "first")
    ScopeQuota.objects.create(scope="team-a", max_resources=1)
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)

    response = add_resource(browser, memory_provider)

    assert response.status_code == 200
    page = response.content.decode()
    assert "over the scope&#x27;s quota of resources: at most 1" in page
    assert "errornote" in page
    assert list(Resource.objects.values_list("name", flat=True)) == ["first"]


def test_adding_a_taken_name_is_an_error_beside_the_name(admin_browser, memory_provider):
    ready_resource(memory_provider.key, "orders")
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)

    response = add_resource(browser, memory_provider, "orders")

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["name"] == ["a resource with this name already exists for this provider "
                              "in this scope"]
    assert Resource.objects.count() == 1
