"""CLEANUP and CLONE in the admin: from a resource's page, the cleanup after naming the
resource; the lists of cleanups and clones; on the real PostgreSQL."""

from __future__ import annotations

from django.urls import reverse

from resourcemanager.backups.models import Cleanup, Clone
from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from tests.admin.conftest import ready_resource
from tests.admin.test_backup_admin import owner_login


def test_clean_up_after_naming_the_resource_then_clone_it(admin_browser, scram_provider):
    browser = admin_browser(team_a=Role.RESOURCE_ADMIN)
    resource = ready_resource("pg-scram")
    with owner_login(resource) as conn:
        conn.execute("CREATE TABLE orders AS SELECT 7 AS id")
    page = browser.get(reverse("admin:resourcemanager_resource_change", args=[resource.pk]))
    cleanup_url = reverse("admin:resourcemanager_resource_cleanup", args=[resource.pk])
    clone_url = reverse("admin:resourcemanager_resource_clone", args=[resource.pk])
    assert cleanup_url in page.content.decode() and clone_url in page.content.decode()

    made = browser.post(clone_url, {"name": "orders-copy", "provider": "pg-scram"}, follow=True)

    assert "The clone is done." in made.content.decode()
    copy = Resource.objects.get(name="orders-copy")
    with owner_login(copy) as conn:
        assert conn.execute("SELECT id FROM orders").fetchone() == (7,)
    listed = browser.get(reverse("admin:resourcemanager_clone_changelist")).content.decode()
    assert "orders-copy" in listed
    wrong = browser.post(cleanup_url, {"confirm": "not-it"})
    assert wrong.status_code == 200 and not Cleanup.objects.exists()
    assert wrong.context["form"].errors["confirm"] == [
        f"a cleanup drops all the data of {resource.name!r}; to confirm, type the "
        f"resource's name: {resource.name}"]

    done = browser.post(cleanup_url, {"confirm": resource.name}, follow=True)

    assert "The cleanup is done." in done.content.decode()
    with owner_login(resource) as conn:
        assert conn.execute("SELECT to_regclass('orders')").fetchone() == (None,)
    assert reverse("admin:resourcemanager_cleanup_change", args=[Cleanup.objects.get().pk]) in (
        browser.get(reverse("admin:resourcemanager_cleanup_changelist")).content.decode())


def test_users_and_other_scopes_get_neither_page(admin_browser, scram_provider):
    resource = ready_resource("pg-scram")
    user = admin_browser(team_a=Role.USER)
    stranger = admin_browser(team_b=Role.ADMIN)
    page = reverse("admin:resourcemanager_resource_change", args=[resource.pk])
    assert "Clean up…" not in user.get(page).content.decode()

    for name in ("cleanup", "clone"):
        url = reverse(f"admin:resourcemanager_resource_{name}", args=[resource.pk])
        assert user.get(url).status_code == 403
        assert user.post(url, {"confirm": resource.name, "name": "x",
                               "provider": "pg-scram"}).status_code == 403
        assert stranger.get(url).status_code == 404
    assert not Cleanup.objects.exists() and not Clone.objects.exists()
