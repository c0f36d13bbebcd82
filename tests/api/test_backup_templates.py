"""Templates: a backup named by its scope, restored by that name into any resource of
the scope that takes its format, and kept by retention; on the real servers."""

from __future__ import annotations

import uuid

from audit.models import AuditEntry
from resourcemanager.backups import retention
from resourcemanager.backups.models import Backup
from resourcemanager.resources.models import Resource
from tests.api.test_backup_schedules import NOW, at, schedule_url, stored_backup
from tests.api.test_backups import completed_backup
from tests.api.test_cleanups import clean_up
from tests.api.test_credentials import TEAM_A, TEAM_B, pg_login, ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)


def name(client, resource: dict, backup: dict, template: str | None, scope_path=TEAM_A):
    return client.post(f"{scope_path}/{resource['id']}/backups/{backup['id']}/template",
                       {"name": template}, format="json")


def test_a_named_template_seeds_another_resource_by_its_name(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    model = ready_resource(client, "pg-scram")
    with pg_login(model["credentials"]) as conn:
        conn.execute("CREATE TABLE currencies AS SELECT 'EUR'::text AS code")
    backup = completed_backup(client, model)

    named = name(client, model, backup, "shop-seed")

    assert named.status_code == 200, named.json()
    assert named.json()["template_name"] == "shop-seed"
    shop = client.post(TEAM_A, {"provider": "pg-scram", "name": "shop"}, format="json").json()
    cleaned = clean_up(client, shop, confirm="shop", template="shop-seed")
    assert cleaned.json()["status"] == "completed", cleaned.json()
    with pg_login(shop["credentials"]) as conn:
        assert conn.execute("SELECT code FROM currencies").fetchall() == [("EUR",)]
    assert AuditEntry.objects.filter(action="resource.backup_template").count() == 1

    assert name(client, model, backup, None).json()["template_name"] == ""
    assert clean_up(client, shop, confirm="shop", template="shop-seed").status_code == 404


def test_template_names_are_checked_unique_and_the_scope_s_own(
    make_client, scram_provider, bucket
):
    admin = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(admin, "pg-scram")
    first, second = completed_backup(admin, resource), completed_backup(admin, resource)
    assert name(admin, resource, first, "seed").status_code == 200

    taken = name(admin, resource, second, "seed")
    assert (taken.status_code, taken.json()["code"]) == (409, "template_exists")
    bad = name(admin, resource, second, "no spaces; DROP")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_name")
    assert name(make_client(team_a="USER"), resource, second, "mine").status_code == 403
    assert name(make_client(team_a="CONSUMER_ADMIN"), resource, second, "x").status_code == 403
    stranger = make_client(team_b="ADMIN")
    assert name(stranger, resource, second, "theirs", TEAM_B).status_code == 404
    assert name(admin, resource, {"id": str(uuid.uuid4())}, "ghost").status_code == 404
    assert list(Backup.objects.exclude(template_name="").values_list(
        "template_name", flat=True)) == ["seed"]


def test_retention_never_removes_a_template(make_client, scram_provider, bucket):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = ready_resource(client, "pg-scram")
    client.put(schedule_url(created), {"interval": "daily", "keep_daily": 1,
                                       "keep_weekly": 0}, format="json")
    resource = Resource.objects.get()
    stored_backup(bucket, resource, at("2026-03-18"))
    old = stored_backup(bucket, resource, at("2026-03-01"))
    Backup.objects.filter(pk=old.pk).update(template_name="golden")

    assert retention.prune_expired(NOW).removed == []
    assert Backup.objects.filter(pk=old.pk).exists()
