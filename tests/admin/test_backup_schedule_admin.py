"""Backup schedules in the admin: RESOURCE_ADMIN and ADMIN set, change and remove them
(through the service, audited), other members only read them, a foreign scope sees none,
and a refused value is shown beside the form."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from resourcemanager.backups import schedules
from resourcemanager.backups.models import BackupSchedule
from resourcemanager.identity.roles import SYSTEM, Role
from tests.admin.conftest import ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)

ADD = reverse("admin:resourcemanager_backupschedule_add")
LIST = reverse("admin:resourcemanager_backupschedule_changelist")


def change_url(schedule: BackupSchedule) -> str:
    return reverse("admin:resourcemanager_backupschedule_change", args=[schedule.pk])


def form(resource, **values) -> dict:
    return {"resource": str(resource.pk), "interval": "daily", "hours": "", "keep_daily": "7",
            "keep_weekly": "4", **values}


@pytest.mark.parametrize("role", [Role.RESOURCE_ADMIN, Role.ADMIN])
def test_a_resource_admin_sets_changes_and_removes_one(admin_browser, scram_provider, bucket,
                                                       role):
    browser = admin_browser(team_a=role)
    resource = ready_resource("pg-scram")

    added = browser.post(ADD, form(resource, keep_daily="3"))

    assert added.status_code == 302, added.content.decode()[:2000]
    schedule = BackupSchedule.objects.get()
    assert (schedule.interval, schedule.keep_daily, schedule.updated_by) == (
        "daily", 3, browser.user.username)
    changed = browser.post(change_url(schedule), form(resource, interval="hours", hours="12"))
    assert changed.status_code == 302
    assert BackupSchedule.objects.get().hours == 12
    removed = browser.post(reverse("admin:resourcemanager_backupschedule_delete",
                                   args=[schedule.pk]), {"post": "yes"})
    assert removed.status_code == 302
    assert not BackupSchedule.objects.exists()
    assert AuditEntry.objects.filter(action="resource.backup_schedule").count() == 3


@pytest.mark.parametrize("role", [Role.CONSUMER_ADMIN, Role.USER])
def test_other_members_read_it_and_change_nothing(admin_browser, scram_provider, bucket, role):
    resource = ready_resource("pg-scram")
    schedule = schedules.set_schedule(SYSTEM, resource, interval="weekly")
    browser = admin_browser(team_a=role)

    page = browser.get(change_url(schedule))
    forged = browser.post(change_url(schedule), form(resource, interval="daily"))

    assert page.status_code == 200 and "weekly" in page.content.decode()
    assert 'name="keep_daily"' not in page.content.decode()
    assert forged.status_code == 403
    assert browser.post(ADD, form(resource)).status_code == 403
    assert BackupSchedule.objects.get().interval == "weekly"


def test_a_foreign_scope_sees_nothing(admin_browser, scram_provider, bucket):
    resource = ready_resource("pg-scram")
    schedule = schedules.set_schedule(SYSTEM, resource, interval="weekly")
    browser = admin_browser(team_b=Role.ADMIN)

    assert str(resource.pk) not in browser.get(LIST).content.decode()
    assert browser.get(change_url(schedule)).status_code in (302, 404)
    assert browser.post(ADD, form(resource)).status_code == 200  # the resource is no choice
    assert BackupSchedule.objects.get().interval == "weekly"


@pytest.mark.parametrize(("values", "error"), [
    ({"interval": "hours"}, "hours is a whole number"),
    ({"keep_daily": "0", "keep_weekly": "0"}, "keeps at least one"),
])
def test_refused_values_are_shown_and_nothing_is_saved(admin_browser, scram_provider, bucket,
                                                       values, error):
    browser = admin_browser(team_a=Role.ADMIN)
    resource = ready_resource("pg-scram")

    answer = browser.post(ADD, form(resource, **values))

    assert answer.status_code == 200
    assert error in answer.content.decode()
    assert not BackupSchedule.objects.exists()
