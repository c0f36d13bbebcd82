"""A resource's own size limit in the admin: operators set and clear it from the
resource's page, through the quota service (audited); the scope's roles read it only,
and other scopes do not reach the page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from resourcemanager.identity.roles import Role
from resourcemanager.resources import quotas
from resourcemanager.resources.models import Resource
from tests.admin.conftest import ready_resource


def urls(resource: Resource) -> tuple[str, str]:
    """The resource's page and its size limit page."""
    return (reverse("admin:resourcemanager_resource_change", args=[resource.pk]),
            reverse("admin:resourcemanager_resource_limit", args=[resource.pk]))


def limit_entries(resource: Resource) -> list[tuple[str, str]]:
    return list(AuditEntry.objects.filter(action="resource.quota", target_id=str(resource.pk))
                .order_by("pk").values_list("actor", "message"))


def test_an_operator_sets_and_clears_the_limit_through_the_audited_service(
        admin_browser, pg_provider):
    resource = ready_resource("pg")
    browser = admin_browser(operator=True)
    page, limit = urls(resource)
    assert limit in browser.get(page).content.decode()
    assert 'name="max_bytes"' in browser.get(limit).content.decode()

    set_ = browser.post(limit, {"max_bytes": "1048576"}, follow=True)

    assert set_.redirect_chain == [(page, 302)]
    assert "Size limit of team-a/orders: 1048576 bytes" in set_.content.decode()
    resource.refresh_from_db()
    assert resource.max_bytes == 1048576
    assert 'value="1048576"' in browser.get(limit).content.decode()  # the form starts there

    cleared = browser.post(limit, {"max_bytes": ""}, follow=True)

    assert "Size limit of team-a/orders: none of its own" in cleared.content.decode()
    resource.refresh_from_db()
    assert resource.max_bytes is None
    name = browser.user.username
    assert limit_entries(resource) == [(name, "max_bytes=1048576"), (name, "max_bytes=None")]


@pytest.mark.parametrize(("typed", "error"), [
    ("-1", "greater than or equal to 0"),
    ("lots", "Enter a whole number"),
    ("1.5", "Enter a whole number"),
    (str(quotas.MAX_BYTES + 1), f"less than or equal to {quotas.MAX_BYTES}"),
])
def test_bad_input_is_a_form_error_and_changes_nothing(admin_browser, pg_provider, typed,
                                                       error):
    resource = ready_resource("pg")
    browser = admin_browser(operator=True)
    _, limit = urls(resource)
    assert browser.post(limit, {"max_bytes": "4096"}).status_code == 302

    refused = browser.post(limit, {"max_bytes": typed})

    assert refused.status_code == 200
    assert error in refused.content.decode()
    resource.refresh_from_db()
    assert resource.max_bytes == 4096
    assert len(limit_entries(resource)) == 1


@pytest.mark.parametrize("role", [Role.ADMIN, Role.RESOURCE_ADMIN, Role.CONSUMER_ADMIN,
                                  Role.USER])
def test_the_scope_roles_read_the_limit_and_cannot_set_it(admin_browser, pg_provider, role):
    resource = ready_resource("pg")
    Resource.objects.filter(pk=resource.pk).update(max_bytes=4096)
    browser = admin_browser(team_a=role)
    page, limit = urls(resource)

    shown = browser.get(page)

    assert shown.status_code == 200
    assert "4096" in shown.content.decode() and limit not in shown.content.decode()
    assert browser.get(limit).status_code == 403
    assert browser.post(limit, {"max_bytes": ""}).status_code == 403
    resource.refresh_from_db()
    assert resource.max_bytes == 4096 and limit_entries(resource) == []


def test_another_scope_does_not_reach_the_page(admin_browser, pg_provider):
    resource = ready_resource("pg")
    stranger = admin_browser(team_b=Role.ADMIN)
    _, limit = urls(resource)

    assert stranger.get(limit).status_code == 404
    assert stranger.post(limit, {"max_bytes": "1"}).status_code == 404
    resource.refresh_from_db()
    assert resource.max_bytes is None and limit_entries(resource) == []
