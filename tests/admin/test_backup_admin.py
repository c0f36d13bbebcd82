"""Backups in the admin: *Back up now* on a resource's page, the backups list, and
*Restore…* after a confirmation naming the resource; on the real PostgreSQL and moto S3."""

from __future__ import annotations

import psycopg
from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from resourcemanager.backups.models import Backup, Restore
from resourcemanager.identity.roles import Role
from tests.admin.conftest import ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)


def owner_login(resource) -> psycopg.Connection:
    fields = resource.credentials
    return psycopg.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                           password=fields["password"], dbname=fields["database"],
                           autocommit=True, connect_timeout=5)


def test_back_up_now_then_restore_after_naming_the_resource(
    admin_browser, scram_provider, bucket
):
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)
    resource = ready_resource("pg-scram")
    with owner_login(resource) as conn:
        conn.execute("CREATE TABLE orders AS SELECT 7 AS id")
    page = reverse("admin:resourcemanager_resource_change", args=[resource.pk])
    assert "Back up now" in browser.get(page).content.decode()

    made = browser.post(reverse("admin:resourcemanager_resource_backup", args=[resource.pk]),
                        follow=True)

    backup = Backup.objects.get()
    assert backup.status == "completed"
    assert f"Backed up {resource}" in made.content.decode()
    assert "Back up now" in made.content.decode()  # back on the page, which lists it
    assert reverse("admin:resourcemanager_backup_change", args=[backup.pk]) in (
        made.content.decode())
    with owner_login(resource) as conn:
        conn.execute("DROP TABLE orders")
    restore_url = reverse("admin:resourcemanager_backup_restore", args=[backup.pk])
    assert restore_url in browser.get(
        reverse("admin:resourcemanager_backup_change", args=[backup.pk])).content.decode()
    confirmation = browser.get(restore_url).content.decode()
    assert "replaces the data of" in confirmation and resource.name in confirmation

    wrong = browser.post(restore_url, {"confirm": "not-it"})

    assert wrong.status_code == 200 and not Restore.objects.exists()
    assert wrong.context["form"].errors["confirm"] == [
        f"a restore replaces the data of {resource.name!r} with the backup's; to confirm, "
        f"type the resource's name: {resource.name}"]

    done = browser.post(restore_url, {"confirm": resource.name}, follow=True)

    restored = Restore.objects.get()
    assert restored.status == "completed" and restored.restored == backup.dump_size > 0
    assert f"Restored backup {backup.pk}" in done.content.decode()
    panel = done.content.decode().split('class="rm-restores"', 1)[1].split("</table>")[0]
    assert "Completed" in panel and filesizeformat(backup.dump_size) in panel
    with owner_login(resource) as conn:
        assert conn.execute("SELECT id FROM orders").fetchone() == (7,)


def test_users_and_other_scopes_neither_back_up_nor_restore(
    admin_browser, scram_provider, bucket
):
    resource = ready_resource("pg-scram")
    admin = admin_browser(team_a=Role.ADMIN)
    admin.post(reverse("admin:resourcemanager_resource_backup", args=[resource.pk]))
    backup = Backup.objects.get()
    user = admin_browser(team_a=Role.USER)
    stranger = admin_browser(team_b=Role.ADMIN)
    restore_url = reverse("admin:resourcemanager_backup_restore", args=[backup.pk])
    backup_url = reverse("admin:resourcemanager_resource_backup", args=[resource.pk])

    assert "Back up now" not in user.get(
        reverse("admin:resourcemanager_resource_change", args=[resource.pk])).content.decode()
    assert user.post(backup_url).status_code == 403
    assert user.get(restore_url).status_code == 403
    assert stranger.post(backup_url).status_code == 404
    assert stranger.get(restore_url).status_code == 404
    assert stranger.post(restore_url, {"confirm": resource.name}).status_code == 404
    listed = stranger.get(reverse("admin:resourcemanager_backup_changelist"))
    assert str(backup.pk) not in listed.content.decode()
    assert Backup.objects.count() == 1 and not Restore.objects.exists()
