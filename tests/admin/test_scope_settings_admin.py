"""A scope's settings in the admin: its ADMIN sets them (through the service, audited),
other members only read them, and a refused value is shown beside the form."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from resourcemanager.identity.roles import Role
from resourcemanager.scopes.models import ScopeSettings

ADD = reverse("admin:resourcemanager_scopesettings_add")


def change_url(settings: ScopeSettings) -> str:
    return reverse("admin:resourcemanager_scopesettings_change", args=[settings.pk])


def form(**values) -> dict:
    return {"scope": "team-a", "credential_self_service": "", "credential_default_ttl": "",
            "credential_max_ttl": "", **values}


def test_the_scope_admin_sets_them_and_the_change_is_audited(admin_browser):
    browser = admin_browser(team_a=Role.ADMIN)

    answer = browser.post(ADD, form(credential_self_service="read-only",
                                    credential_default_ttl="3600"))

    assert answer.status_code == 302, answer.content.decode()[:2000]
    saved = ScopeSettings.objects.get(scope="team-a")
    assert (saved.credential_self_service, saved.credential_default_ttl) == ("read-only", 3600)
    assert saved.updated_by == browser.user.username
    assert AuditEntry.objects.filter(action="scope.settings", scope="team-a").count() == 1
    changed = browser.post(change_url(saved), form(credential_default_ttl=""))
    assert changed.status_code == 302
    assert ScopeSettings.objects.get(scope="team-a").credential_default_ttl is None


@pytest.mark.parametrize("role", [Role.RESOURCE_ADMIN, Role.CONSUMER_ADMIN, Role.USER])
def test_other_members_read_them_and_change_nothing(admin_browser, role):
    settings = ScopeSettings.objects.create(scope="team-a", credential_default_ttl=600)
    browser = admin_browser(team_a=role)

    page = browser.get(change_url(settings))
    forged = browser.post(change_url(settings), form(credential_default_ttl="60"))

    assert page.status_code == 200 and "600" in page.content.decode()
    assert 'name="credential_default_ttl"' not in page.content.decode()  # read-only
    assert forged.status_code == 403
    assert browser.post(ADD, form(scope="team-a")).status_code == 403
    assert ScopeSettings.objects.get(scope="team-a").credential_default_ttl == 600


@pytest.mark.parametrize(("values", "error"), [
    ({"credential_default_ttl": "5"}, "at least 60"),
    ({"credential_max_ttl": "600", "credential_default_ttl": "3600"}, "at most 600"),
    ({"scope": "team-b"}, "this needs the role ADMIN in this scope"),
])
def test_refused_values_are_shown_and_nothing_is_saved(admin_browser, values, error):
    browser = admin_browser(team_a=Role.ADMIN)

    answer = browser.post(ADD, form(**values))

    assert answer.status_code == 200
    assert error in answer.content.decode()
    assert not ScopeSettings.objects.exists()


def test_another_scope_s_admin_is_refused_without_learning_whether_it_has_settings(
        admin_browser):
    admin_browser(team_a=Role.ADMIN).post(ADD, form(credential_default_ttl="3600"))
    outsider = admin_browser(team_b=Role.ADMIN)

    errors = [outsider.post(ADD, form(scope=scope)).context["adminform"].form.errors
              for scope in ("team-a", "team-c")]

    assert errors[0] == errors[1] and "already" not in str(errors[0])
    assert ScopeSettings.objects.get(scope="team-a").credential_default_ttl == 3600
