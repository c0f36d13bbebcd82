"""``manage.py verify_backups``, the restore drill, on the real servers: the scram
PostgreSQL cluster, MariaDB and the moto S3 server as the backup store."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from resourcemanager.backups.models import Backup
from resourcemanager.resources.models import Resource
from tests.api.test_backups import MYSQL_OBJECTS, completed_backup, mysql_login
from tests.api.test_credentials import pg_login, ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)


def verify(*args: str) -> tuple[int, str]:
    """Run the command; its exit status and what it printed."""
    output = io.StringIO()
    try:
        call_command("verify_backups", *args, stdout=output)
    except CommandError as exc:
        return exc.returncode, output.getvalue() + str(exc)
    return 0, output.getvalue()


def databases_on(resource: Resource) -> set[str]:
    """The databases named like ours on the resource's instance."""
    prefix = resource.provider.options["name_prefix"]
    return set(resource.provider.adapter().inventory(prefix).databases)


def test_a_good_postgresql_backup_passes_and_leaves_no_scratch_database(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = ready_resource(client, "pg-scram")
    with pg_login(created["credentials"]) as conn:
        conn.execute("CREATE TABLE orders AS SELECT generate_series(1, 300) AS id")
        conn.execute("CREATE SCHEMA billing")
        conn.execute("CREATE TABLE billing.invoices (id int)")
    completed_backup(client, created)
    with pg_login(created["credentials"]) as conn:
        conn.execute("INSERT INTO orders VALUES (301)")  # after the backup: not in the drill
    resource = Resource.objects.get()

    status, output = verify("--resource", str(resource.pk))

    assert status == 0, output
    assert "[1/1] OK   team-a/orders (pg-scram" in output
    assert "matches its manifest: 2 tables, 300 rows" in output
    assert "1 drilled: 1 passed, 0 failed" in output
    assert databases_on(resource) == {resource.backend_name}
    with pg_login(created["credentials"]) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (301,)
    assert AuditEntry.objects.filter(action="resource.backup_verify",
                                     outcome="success").count() == 1


def test_a_good_mysql_backup_with_routines_and_events_passes(make_client, mysql_provider, bucket):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = ready_resource(client, "mysql")
    with mysql_login(created["credentials"]) as conn, conn.cursor() as cur:
        for statement in MYSQL_OBJECTS:
            cur.execute(statement)
    backup = completed_backup(client, created)
    assert Backup.objects.get(pk=backup["id"]).manifest == {"tables": {"orders": 2}}

    status, output = verify("--scope", "team-a")

    assert status == 0, output
    assert "matches its manifest: 1 tables, 2 rows" in output
    resource = Resource.objects.get()
    assert databases_on(resource) == {resource.backend_name}


def test_a_damaged_backup_fails_the_drill_with_exit_1_and_no_scratch_left(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = ready_resource(client, "pg-scram")
    with pg_login(created["credentials"]) as conn:
        conn.execute("CREATE TABLE orders AS SELECT 1 AS id")
    completed_backup(client, created)
    key = Backup.objects.get().object_key
    sealed = bytearray(bucket.read(key))
    sealed[len(sealed) // 2] ^= 0xFF
    bucket.write(key, bytes(sealed))
    resource = Resource.objects.get()

    status, output = verify("--all")

    assert status == 1
    assert "FAIL team-a/orders" in output and "does not match its checksum" in output
    assert "1 restore drill(s) failed" in output
    assert databases_on(resource) == {resource.backend_name}
    assert AuditEntry.objects.filter(action="resource.backup_verify",
                                     outcome="failure").count() == 1


def test_a_restored_copy_that_differs_from_the_manifest_fails(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    created = ready_resource(client, "pg-scram")
    with pg_login(created["credentials"]) as conn:
        conn.execute("CREATE TABLE orders AS SELECT generate_series(1, 10) AS id")
    completed_backup(client, created)
    Backup.objects.update(manifest={"tables": {"public.orders": 11, "public.lost": 4}})
    resource = Resource.objects.get()

    status, output = verify("--resource", str(resource.pk))

    assert status == 1
    assert "missing tables public.lost" in output
    assert "public.orders: 10 rows, 11 recorded" in output
    assert databases_on(resource) == {resource.backend_name}


def test_a_resource_without_a_backup_fails_when_named_and_is_skipped_otherwise(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    ready_resource(client, "pg-scram")
    resource = Resource.objects.get()

    assert verify("--all") == (0, "\n0 drilled: 0 passed, 0 failed\n")
    status, output = verify("--resource", str(resource.pk))
    assert status == 1 and "no completed backup to verify" in output


def test_the_selection_and_the_store_are_required_and_checked(api_db, settings):
    with pytest.raises(CommandError, match="choose the resources"):
        call_command("verify_backups")
    with pytest.raises(CommandError, match="RM_BACKUP_STORE_URL is empty"):
        call_command("verify_backups", "--all")
    settings.RM_BACKUP_STORE_URL = "s3://key:secret@127.0.0.1:9/bucket"
    with pytest.raises(CommandError, match="no such resource"):
        call_command("verify_backups", "--resource", "0f0e0d0c-0000-4000-8000-000000000000")
