"""Backup schedules through the API, their sweep driven with a fixed 'now', and retention
pruning the store, on the real servers (the scram PostgreSQL cluster, moto S3)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit.models import AuditEntry
from resourcemanager.backups import retention, schedules, tasks
from resourcemanager.backups.models import Backup, BackupSchedule, Restore, RunStatus
from resourcemanager.backups.sealing import new_data_key
from resourcemanager.resources.models import Resource
from tests.api.test_backups import completed_backup
from tests.api.test_credentials import TEAM_A, TEAM_B, pg_login, ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)

DAILY = {"interval": "daily", "keep_daily": 3, "keep_weekly": 2}
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)  # a Wednesday


def schedule_url(resource: dict, scope_path: str = TEAM_A) -> str:
    return f"{scope_path}/{resource['id']}/backup-schedule"


def test_an_admin_sets_reads_changes_and_removes_a_schedule(make_client, scram_provider, bucket):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    assert client.get(schedule_url(resource)).status_code == 404

    created = client.put(schedule_url(resource), DAILY, format="json")

    assert created.status_code == 200, created.json()
    assert created.json() | {"next_run_at": None, "updated_at": None} == {
        "resource": resource["id"], "interval": "daily", "hours": None, "keep_daily": 3,
        "keep_weekly": 2, "next_run_at": None, "last_run_at": None, "last_message": "",
        "updated_by": created.json()["updated_by"], "updated_at": None}
    changed = client.put(schedule_url(resource), {"interval": "hours", "hours": 6},
                         format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["hours"], changed.json()["keep_daily"]) == (6, 7)
    assert client.get(schedule_url(resource)).json()["interval"] == "hours"

    assert client.delete(schedule_url(resource)).status_code == 204
    assert client.get(schedule_url(resource)).status_code == 404
    assert client.delete(schedule_url(resource)).status_code == 404
    assert list(AuditEntry.objects.filter(action="resource.backup_schedule")
                .order_by("seq").values_list("message", flat=True)) == [
        "daily, keep 3 daily / 2 weekly", "every 6 hours, keep 7 daily / 4 weekly",
        "removed; its backups are kept"]


@pytest.mark.parametrize(("body", "field"), [
    ({"interval": "monthly"}, "interval"),
    ({"interval": "daily", "keep_daily": -1}, "keep_daily"),
    ({"interval": "daily", "keep_weekly": -3}, "keep_weekly"),
    ({"interval": "daily", "keep_daily": 0, "keep_weekly": 0}, "keep_daily"),
    ({"interval": "hours"}, "hours"),
    ({"interval": "hours", "hours": 0}, "hours"),
    ({"interval": "hours", "hours": 1000}, "hours"),
    ({"interval": "daily", "hours": 6}, "hours"),
    ({"interval": "daily", "keep_daily": "many"}, "keep_daily"),
    ({"interval": "daily", "cron": "* * * * *"}, "cron"),
])
def test_bad_schedules_are_refused_with_a_4xx(make_client, scram_provider, bucket, body, field):
    client = make_client(team_a="ADMIN")
    resource = ready_resource(client, "pg-scram")

    answer = client.put(schedule_url(resource), body, format="json")

    assert answer.status_code == 400, answer.json()
    assert field in str(answer.json())
    assert not BackupSchedule.objects.exists()


def test_every_role_and_a_foreign_scope(make_client, scram_provider, bucket):
    admin = make_client(team_a="ADMIN")
    resource = ready_resource(admin, "pg-scram")
    assert admin.put(schedule_url(resource), DAILY, format="json").status_code == 200
    for role in ("RESOURCE_ADMIN", "ADMIN"):
        client = make_client(team_a=role)
        assert client.get(schedule_url(resource)).status_code == 200
        assert client.put(schedule_url(resource), DAILY, format="json").status_code == 200
    for role in ("CONSUMER_ADMIN", "USER"):
        client = make_client(team_a=role)
        assert client.get(schedule_url(resource)).json()["interval"] == "daily"
        assert client.put(schedule_url(resource), DAILY, format="json").status_code == 403
        assert client.delete(schedule_url(resource)).status_code == 403
    stranger = make_client(team_b="ADMIN")
    assert stranger.get(schedule_url(resource)).status_code == 403
    assert stranger.put(schedule_url(resource), DAILY, format="json").status_code == 403
    for method in (stranger.get, stranger.delete):
        assert method(schedule_url(resource, TEAM_B)).status_code == 404
    assert stranger.put(schedule_url(resource, TEAM_B), DAILY, format="json"
                        ).status_code == 404
    assert BackupSchedule.objects.count() == 1


def test_without_a_store_no_schedule_is_set(make_client, scram_provider):
    client = make_client(team_a="ADMIN")
    resource = ready_resource(client, "pg-scram")

    answer = client.put(schedule_url(resource), DAILY, format="json")
    malformed = client.put(schedule_url(resource), {**DAILY, "keep_daily": -1}, format="json")

    assert answer.status_code == 409
    assert answer.json()["code"] == "backups_not_configured"
    assert malformed.status_code == 400 and "keep_daily" in malformed.json()["fields"]


def test_the_sweep_backs_up_what_is_due_and_keeps_the_cadence(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    with pg_login(resource["credentials"]) as conn:
        conn.execute("CREATE TABLE orders AS SELECT generate_series(1, 42) AS id")
    client.put(schedule_url(resource), {"interval": "hours", "hours": 6}, format="json")
    BackupSchedule.objects.update(next_run_at=NOW)

    early = schedules.request_due_backups(NOW - timedelta(minutes=1))
    assert early.requested == [] and not Backup.objects.exists()

    due = schedules.request_due_backups(NOW + timedelta(hours=13, minutes=5))

    [backup] = Backup.objects.all()
    assert due.requested == [str(backup.pk)]
    assert (backup.status, backup.scheduled, backup.created_by) == (
        RunStatus.COMPLETED, True, "system")
    assert backup.manifest == {"tables": {"public.orders": 42}}
    assert bucket.keys() == [backup.object_key]
    schedule = BackupSchedule.objects.get()
    assert schedule.next_run_at == NOW + timedelta(hours=18)  # on the cadence, no catch-up
    assert schedule.last_message == ""
    assert schedules.request_due_backups(NOW + timedelta(hours=14)).requested == []


def test_a_due_backup_of_a_resource_not_ready_is_noted_not_requested(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    client.put(schedule_url(resource), DAILY, format="json")
    Resource.objects.update(status=Resource.Status.ERROR)

    report = schedules.request_due_backups(NOW + timedelta(days=400))

    assert report.requested == [] and not Backup.objects.exists()
    assert "error resource cannot be backed up" in BackupSchedule.objects.get().last_message
    assert AuditEntry.objects.filter(action="resource.backup", outcome="failure").exists()
    Resource.objects.update(status=Resource.Status.DELETED)
    rested = schedules.request_due_backups(NOW + timedelta(days=800))
    assert (rested.requested, rested.skipped) == ([], {})


def at(day: str, hour: int = 3) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def stored_backup(bucket, resource: Resource, when: datetime, *, scheduled: bool = True,
                  status: str = RunStatus.COMPLETED) -> Backup:
    """A backup row made at ``when`` with an object in the store."""
    backup = Backup(scope=resource.scope, resource=resource, status=status, format="x",
                    compressed=True, scheduled=scheduled, created_by="system",
                    data_key=base64.b64encode(new_data_key()).decode(), sha256="0" * 64)
    backup.object_key = f"tenants/{resource.scope}/{resource.pk}/{backup.pk}.rmbackup"
    backup.save()
    Backup.objects.filter(pk=backup.pk).update(created_at=when, completed_at=when)
    if status == RunStatus.COMPLETED:
        bucket.write(backup.object_key, b"sealed " + uuid.uuid4().bytes)
    backup.refresh_from_db()
    return backup


def test_retention_keeps_the_newest_of_the_last_days_and_iso_weeks():
    days = ["2026-03-18", "2026-03-18", "2026-03-17", "2026-03-16", "2026-03-15",
            "2026-03-14", "2026-03-08", "2026-03-01", "2026-02-20"]
    backups = [Backup(id=uuid.uuid4(), completed_at=at(day, hour))
               for day, hour in zip(days, [9, 3, 3, 3, 3, 3, 3, 3, 3], strict=True)]

    kept = retention.kept(backups, keep_daily=3, keep_weekly=3)

    # days: 18 (09:00), 17, 16; ISO weeks: W12 (18 09:00), W11 (15th, its Sunday), W10 (8th)
    assert kept == {backups[i].pk for i in (0, 2, 3, 4, 6)}
    assert retention.kept(backups, keep_daily=0, keep_weekly=1) == {backups[0].pk}
    assert retention.kept(backups[-1:], keep_daily=2, keep_weekly=0) == {backups[-1].pk}


def test_the_prune_removes_expired_objects_then_rows_and_keeps_the_rest(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = ready_resource(client, "pg-scram")
    client.put(schedule_url(created), {"interval": "daily", "keep_daily": 2,
                                       "keep_weekly": 1}, format="json")
    resource = Resource.objects.get()
    newest = stored_backup(bucket, resource, at("2026-03-18"))
    yesterday = stored_backup(bucket, resource, at("2026-03-17"))
    older = [stored_backup(bucket, resource, at(day)) for day in ("2026-03-16", "2026-03-10")]
    manual = stored_backup(bucket, resource, at("2026-01-05"), scheduled=False)
    read = stored_backup(bucket, resource, at("2026-03-02"))
    Restore.objects.create(scope=resource.scope, resource=resource, backup=read,
                           created_by="someone")  # pending: the restore reads it
    failed_long_ago = stored_backup(bucket, resource, at("2026-02-01"),
                                    status=RunStatus.FAILED)

    report = retention.prune_expired(NOW)

    assert sorted(report.removed) == sorted(str(b.pk) for b in [*older, failed_long_ago])
    assert set(Backup.objects.values_list("pk", flat=True)) == {
        newest.pk, yesterday.pk, manual.pk, read.pk}
    assert sorted(bucket.keys()) == sorted(
        b.object_key for b in (newest, yesterday, manual, read))
    assert AuditEntry.objects.filter(action="resource.backup_expire",
                                     outcome="success").count() == 3


def test_the_only_completed_backup_is_never_pruned(make_client, scram_provider, bucket):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = ready_resource(client, "pg-scram")
    client.put(schedule_url(created), {"interval": "daily", "keep_daily": 1,
                                       "keep_weekly": 0}, format="json")
    resource = Resource.objects.get()
    only = stored_backup(bucket, resource, at("2026-03-01"))
    schedule = BackupSchedule.objects.get()

    assert retention.expired(schedule, NOW) == []
    assert retention._may_go(only) is False
    assert retention.prune_expired(NOW).removed == []
    assert Backup.objects.get() == only and bucket.keys() == [only.object_key]


def test_a_store_that_fails_leaves_the_row_for_the_next_sweep(
    make_client, scram_provider, bucket, settings
):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = ready_resource(client, "pg-scram")
    client.put(schedule_url(created), {"interval": "daily", "keep_daily": 1,
                                       "keep_weekly": 0}, format="json")
    resource = Resource.objects.get()
    stored_backup(bucket, resource, at("2026-03-18"))
    expired = stored_backup(bucket, resource, at("2026-03-10"))
    working = settings.RM_BACKUP_STORE_URL
    settings.RM_BACKUP_STORE_URL = unreachable(working)

    failing = retention.prune_expired(NOW)

    assert list(failing.failed) == [str(expired.pk)]
    expired.refresh_from_db()
    assert (expired.status, expired.status_message) == (RunStatus.FAILED, retention.EXPIRING)
    assert bucket.keys().count(expired.object_key) == 1
    settings.RM_BACKUP_STORE_URL = working

    assert retention.prune_expired(NOW).removed == [str(expired.pk)]
    assert not Backup.objects.filter(pk=expired.pk).exists()
    assert bucket.keys().count(expired.object_key) == 0


def unreachable(store_url: str) -> str:
    """``store_url`` pointed at a port where nothing listens."""
    host_port = store_url.split("@", 1)[1].split("/", 1)[0]
    return store_url.replace(host_port, "127.0.0.1:9")


def test_a_backup_of_an_empty_database_records_an_empty_manifest(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    backup = completed_backup(client, resource)

    assert Backup.objects.get(pk=backup["id"]).manifest == {"tables": {}}


def test_beat_runs_the_sweep_which_backs_up_and_prunes(make_client, scram_provider, bucket,
                                                       settings):
    assert settings.CELERY_BEAT_SCHEDULE["sweep-backups"]["task"] == (
        "resourcemanager.sweep_backups")
    client = make_client(team_a="RESOURCE_ADMIN")
    created = ready_resource(client, "pg-scram")
    client.put(schedule_url(created), {"interval": "weekly", "keep_daily": 1,
                                       "keep_weekly": 0}, format="json")
    resource = Resource.objects.get()
    older = stored_backup(bucket, resource, at("2026-03-01"))

    summary = tasks.sweep_backups.apply().get()

    assert summary == {"requested": 1, "skipped": 0, "removed": 1, "not_removed": 0}
    [made] = Backup.objects.all()
    assert made.scheduled and made.status == RunStatus.COMPLETED
    assert bucket.keys() == [made.object_key] != [older.object_key]
