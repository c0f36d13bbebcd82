"""A scope's quota in the admin: operators set the limits (through the service, audited),
the scope's members read them beside what it holds, and no one else sees them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from resourcemanager.identity.roles import Role
from resourcemanager.scopes.models import ScopeQuota

ADD = reverse("admin:resourcemanager_scopequota_add")
LIST = reverse("admin:resourcemanager_scopequota_changelist")


def change_url(quota: ScopeQuota) -> str:
    return reverse("admin:resourcemanager_scopequota_change", args=[quota.pk])


def form(**values) -> dict:
    return {"scope": "team-a", "max_resources": "", "max_credentials": "", "max_bytes": "",
            **values}


def test_an_operator_sets_the_limits_and_the_change_is_audited(admin_browser):
    browser = admin_browser(operator=True)

    answer = browser.post(ADD, form(max_resources="3", max_bytes="1048576"))

    assert answer.status_code == 302, answer.content.decode()[:2000]
    saved = ScopeQuota.objects.get(scope="team-a")
    assert (saved.max_resources, saved.max_credentials, saved.max_bytes) == (3, None, 1048576)
    assert AuditEntry.objects.filter(action="scope.quota", scope="team-a").count() == 1
    changed = browser.post(change_url(saved), form(max_resources=""))
    assert changed.status_code == 302
    assert ScopeQuota.objects.get(scope="team-a").max_resources is None
    refused = browser.post(change_url(saved), form(max_bytes="-1"))
    assert refused.status_code == 200 and "a whole number from 0" in refused.content.decode()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.RESOURCE_ADMIN, Role.CONSUMER_ADMIN,
                                  Role.USER])
def test_members_read_their_quota_and_usage_and_change_nothing(admin_browser, role):
    quota = ScopeQuota.objects.create(scope="team-a", max_resources=7)
    ScopeQuota.objects.create(scope="team-b", max_resources=99)
    browser = admin_browser(team_a=role)

    page = browser.get(change_url(quota))
    listed = browser.get(LIST).content.decode()
    forged = browser.post(change_url(quota), form(max_resources="1000"))

    assert page.status_code == 200 and "0 resources" in page.content.decode()
    assert 'name="max_resources"' not in page.content.decode()  # read-only
    assert "team-a" in listed and "team-b" not in listed
    assert forged.status_code == 403
    assert browser.post(ADD, form()).status_code == 403
    assert ScopeQuota.objects.get(scope="team-a").max_resources == 7
