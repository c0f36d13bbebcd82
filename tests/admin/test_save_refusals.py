"""A service's refusal when an admin form is saved (a full quota, a taken name) shows on
the form again, as a validation error does, and nothing is saved; one when an object is
deleted shows on its deletion page again, and nothing is deleted."""

from __future__ import annotations

import pytest
from django.urls import reverse

from consumers import services as consumer_services
from consumers.models import Consumer
from resourcemanager.backups import schedules
from resourcemanager.backups.models import BackupSchedule
from resourcemanager.core.errors import Conflict
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import SYSTEM, Role
from resourcemanager.resources import quotas, services
from resourcemanager.resources.models import Resource
from resourcemanager.scopes import services as scope_services
from resourcemanager.scopes.models import ScopeQuota, ScopeSettings
from resourcemanager.ui.admin import memberships as membership_admin
from tests.admin.conftest import ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)

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


def changed_meanwhile(*args, **kwargs):
    """A service refusing the save, as when the row or the rules changed after the form's
    checks (another request in between)."""
    raise Conflict("the resource is deleting", code="invalid_state")


@pytest.mark.parametrize("page", ["resource", "settings", "quota", "membership", "consumer",
                                  "schedule"])
def test_a_refusal_at_save_time_shows_on_the_form(admin_browser, request, monkeypatch, page,
                                                  django_user_model):
    if page == "schedule":  # backups need a store and a provider whose data is handled
        request.getfixturevalue("bucket")
    provider = request.getfixturevalue("pg_provider" if page == "schedule"
                                       else "memory_provider")
    resource = ready_resource(provider.key, "orders")
    django_user_model.objects.create_user("newcomer", password=None)
    url, data, service, name = {
        "resource": (f"/admin/resourcemanager/resource/{resource.pk}/change/",
                     {"tags_text": "prod"}, services, "update_resource"),
        "settings": (reverse("admin:resourcemanager_scopesettings_add"),
                     {"scope": "team-a", "credential_self_service": "read-only",
                      "credential_default_ttl": "", "credential_max_ttl": ""},
                     scope_services, "update_settings"),
        "quota": (reverse("admin:resourcemanager_scopequota_add"),
                  {"scope": "team-a", "max_resources": "3", "max_credentials": "",
                   "max_bytes": ""}, quotas, "update_quota"),
        "membership": (reverse("admin:resourcemanager_scoperole_add"),
                       {"username": "newcomer", "scope": "team-a", "role": Role.USER},
                       membership_admin, "grant_role"),
        "consumer": (reverse("admin:consumers_consumer_add"),
                     {"scope": "team-a", "builder": "webhook", "name": "hook",
                      "tags_text": "", "property_url": "http://127.0.0.1:1/h",
                      "property_secret": "whsec-x", "property_timeout": "10",
                      "credential_access": "read-only", "enabled": "on"},
                     consumer_services, "create_consumer"),
        "schedule": (reverse("admin:resourcemanager_backupschedule_add"),
                     {"resource": str(resource.pk), "interval": "daily", "hours": "",
                      "keep_daily": "7", "keep_weekly": "4"}, schedules, "set_schedule"),
    }[page]
    monkeypatch.setattr(service, name, changed_meanwhile)
    browser = admin_browser(operator=True)

    response = browser.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "the resource is deleting"]
    resource.refresh_from_db()
    assert resource.tags == []
    assert not ScopeSettings.objects.exists()
    assert not ScopeQuota.objects.exists()
    assert not ScopeRole.objects.filter(user__username="newcomer").exists()
    assert not Consumer.objects.exists()
    assert not BackupSchedule.objects.exists()


def refused_after(service):
    """``service`` done, then refused, as when a later step of the deletion finds the
    rules against it: whatever it changed must be rolled back."""

    def run(*args, **kwargs):
        service(*args, **kwargs)
        raise Conflict("the resource is deleting", code="invalid_state")

    return run


@pytest.mark.parametrize("page", ["resource", "membership", "consumer", "schedule"])
def test_a_refusal_at_delete_time_shows_on_the_page_and_deletes_nothing(
        admin_browser, request, monkeypatch, page, django_user_model):
    if page == "schedule":
        request.getfixturevalue("bucket")
    provider = request.getfixturevalue("pg_provider" if page == "schedule"
                                       else "memory_provider")
    resource = ready_resource(provider.key, "orders")
    newcomer = django_user_model.objects.create_user("newcomer", password=None)
    make, service, name = {
        "resource": (lambda: resource, services, "delete_resource"),
        "membership": (lambda: ScopeRole.objects.create(user=newcomer, scope="team-a",
                                                        role=Role.USER),
                       membership_admin, "revoke_role"),
        "consumer": (lambda: consumer_services.create_consumer(
            SYSTEM, "team-a", builder="webhook", name="hook",
            properties={"url": "http://127.0.0.1:1/h", "secret": "whsec-x"}),
            consumer_services, "delete_consumer"),
        "schedule": (lambda: schedules.set_schedule(SYSTEM, resource, interval="weekly"),
                     schedules, "delete_schedule"),
    }[page]
    target = make()
    monkeypatch.setattr(service, name, refused_after(getattr(service, name)))
    url = reverse(f"admin:{target._meta.app_label}_{target._meta.model_name}_delete",
                  args=[target.pk])
    browser = admin_browser(operator=True)

    response = browser.post(url, {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(url, 302)]
    assert [str(message) for message in response.context["messages"]] == [
        "the resource is deleting"]
    assert type(target).objects.filter(pk=target.pk).exists()
    resource.refresh_from_db()
    assert resource.status == Resource.Status.READY
