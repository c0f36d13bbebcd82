"""BACKUP and RESTORE through the API, on the real servers: the scram PostgreSQL cluster
(passwords really checked), MariaDB, and the moto S3 server as the backup store."""

from __future__ import annotations

import base64
import io
import logging
import subprocess
import uuid

import pymysql
import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from resourcemanager.backups.models import Backup, Restore
from resourcemanager.backups.sealing import SealError, new_data_key, unseal
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources.models import Resource
from tests.api.test_credentials import TEAM_A, TEAM_B, issue, pg_login, ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)


def back_up(client, resource: dict, scope_path: str = TEAM_A):
    return client.post(f"{scope_path}/{resource['id']}/backup", format="json")


def restore(client, resource: dict, backup: dict, confirm: str | None = "orders"):
    body = {"backup": backup["id"]} | ({"confirm": confirm} if confirm is not None else {})
    return client.post(f"{TEAM_A}/{resource['id']}/restore", body, format="json")


def completed_backup(client, resource: dict) -> dict:
    answer = back_up(client, resource)
    assert answer.status_code == 202, answer.json()
    assert answer.json()["status"] == "completed", answer.json()
    return answer.json()


def mysql_login(fields: dict) -> pymysql.Connection:
    return pymysql.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                           password=fields["password"], database=fields["database"],
                           autocommit=True, connect_timeout=5)


def test_a_postgresql_backup_brings_a_dropped_table_back_for_every_credential(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    owner = resource["credentials"]
    with pg_login(owner) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO orders SELECT n, 'parcel ' || n FROM generate_series(1, 500) n")
    reader = issue(client, resource, holder="reports", access="read-only").json()["credentials"]

    backup = completed_backup(client, resource)

    assert backup["size"] > 0 and len(backup["sha256"]) == 64 and backup["format"] == (
        "postgresql-custom")
    assert "data_key" not in backup and "object_key" not in backup
    with pg_login(owner) as conn:
        conn.execute("DROP TABLE orders")
    refused = restore(client, resource, backup, confirm=None)
    assert refused.status_code == 400
    assert refused.json()["code"] == "confirmation_required"
    assert '"confirm": \'orders\'' in refused.json()["message"]

    restored = restore(client, resource, backup)

    assert restored.status_code == 202, restored.json()
    assert restored.json()["status"] == "completed", restored.json()
    assert restored.json()["restored"] == backup["dump_size"] > 0
    with pg_login(reader) as conn:
        assert conn.execute("SELECT count(*), max(note) FROM orders").fetchone() == (
            500, "parcel 99")
    with pg_login(owner) as conn:
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'orders'"
                            ).fetchone() == (Resource.objects.get().backend_name,)
    assert sorted(AuditEntry.objects.filter(action__in=["resource.backup", "resource.restore"])
                  .values_list("action", "outcome")) == [
        ("resource.backup", "accepted"), ("resource.backup", "success"),
        ("resource.restore", "accepted"), ("resource.restore", "success")]
    assert set(OutboxMessage.objects.filter(kind="event").values_list("name", flat=True)) >= {
        "resource.backed_up", "resource.restored"}


def test_the_stored_object_is_sealed_with_its_own_key(make_client, scram_provider, bucket):
    client = make_client(team_a="ADMIN")
    resource = ready_resource(client, "pg-scram")
    with pg_login(resource["credentials"]) as conn:
        conn.execute("CREATE TABLE confidential_ledger AS SELECT 'very private row' AS note")

    backup = completed_backup(client, resource)

    stored = Backup.objects.get(pk=backup["id"])
    assert bucket.keys() == [stored.object_key]
    assert stored.object_key.startswith("tenants/team-a/")
    sealed = bucket.read(stored.object_key)
    assert len(sealed) == backup["size"]
    for plain in (b"confidential_ledger", b"very private row", b"PGDMP"):
        assert plain not in sealed
    dump = b"".join(unseal([sealed], base64.b64decode(stored.data_key), compressed=False))
    assert dump.startswith(b"PGDMP")
    with pytest.raises(SealError):
        b"".join(unseal([sealed], new_data_key(), compressed=False))


def test_a_mysql_backup_brings_dropped_rows_back(make_client, mysql_provider, bucket):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    owner = resource["credentials"]
    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, note TEXT)")
        cur.execute("INSERT INTO orders VALUES (1, 'parcel one'), (2, 'parcel two')")
    reader = issue(client, resource, holder="reports", access="read-only").json()["credentials"]

    backup = completed_backup(client, resource)

    assert backup["format"] == "mysql-sql"
    assert b"parcel" not in bucket.read(Backup.objects.get().object_key)
    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE orders")
    restored = restore(client, resource, backup)
    assert restored.json()["status"] == "completed", restored.json()
    with mysql_login(reader) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, note FROM orders ORDER BY id")
        assert cur.fetchall() == ((1, "parcel one"), (2, "parcel two"))


MYSQL_OBJECTS = (
    "CREATE TABLE orders (id INT PRIMARY KEY, note TEXT)",
    "INSERT INTO orders VALUES (1, 'parcel one'), (2, 'parcel two')",
    "CREATE VIEW first_order AS SELECT * FROM orders WHERE id = 1",
    "CREATE TRIGGER stamp BEFORE INSERT ON orders FOR EACH ROW "
    "SET NEW.note = CONCAT(NEW.note, '!')",
    "CREATE PROCEDURE count_orders(OUT n INT) SELECT COUNT(*) INTO n FROM orders",
    "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM orders WHERE id > 1000",
)


def assert_mysql_objects_work(owner: dict) -> None:
    """What ``MYSQL_OBJECTS`` made is there, the owner's (its definer), and runs for it."""
    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (3, 'parcel three')")
        cur.execute("CALL count_orders(@n)")
        cur.execute("SELECT @n, twice(21), (SELECT note FROM orders WHERE id = 3), "
                    "(SELECT note FROM first_order)")
        assert cur.fetchone() == (3, 42, "parcel three!", "parcel one")
        cur.execute("SELECT EVENT_NAME, INTERVAL_VALUE, INTERVAL_FIELD, DEFINER "
                    "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s", (owner["database"],))
        assert cur.fetchall() == (("nightly", "1", "DAY", f"{owner['username']}@%"),)
        cur.execute("SELECT ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES "
                    "WHERE ROUTINE_SCHEMA = %s ORDER BY 1", (owner["database"],))
        assert cur.fetchall() == (("count_orders", f"{owner['username']}@%"),
                                  ("twice", f"{owner['username']}@%"))


def test_a_mysql_backup_brings_routines_events_triggers_and_views_back(
    make_client, mysql_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    owner = resource["credentials"]
    with mysql_login(owner) as conn, conn.cursor() as cur:
        for statement in MYSQL_OBJECTS:
            cur.execute(statement)
    backup = completed_backup(client, resource)
    emptied = client.post(f"{TEAM_A}/{resource['id']}/cleanup", {"confirm": "orders"},
                          format="json")
    assert emptied.json()["status"] == "completed", emptied.json()

    restored = restore(client, resource, backup)

    assert restored.json()["status"] == "completed", restored.json()
    assert_mysql_objects_work(owner)
    again = restore(client, resource, backup)  # over the routines, event and view it made
    assert again.json()["status"] == "completed", again.json()
    assert_mysql_objects_work(owner)


def test_a_failed_dump_leaves_a_failed_backup_no_object_and_no_password_anywhere(
    make_client, scram_provider, bucket, caplog, monkeypatch
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    stored = Resource.objects.get()
    wrong = f"wrong-{uuid.uuid4().hex}"
    stored.credentials = {**stored.credentials, "password": wrong}
    stored.save()
    started: list[tuple[list[str], dict]] = []
    real_popen = subprocess.Popen

    def recording_popen(argv, **options):
        started.append((list(argv), dict(options.get("env") or {})))
        return real_popen(argv, **options)

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    caplog.set_level(logging.DEBUG)

    answer = back_up(client, resource)

    assert answer.status_code == 202
    assert answer.json()["status"] == "failed"
    assert answer.json()["status_message"]
    assert bucket.keys() == [] and bucket.unfinished_uploads() == []
    [(argv, env)] = started
    assert argv[0].endswith("/pg_dump") and all(wrong not in arg for arg in argv)
    assert env["PGPASSWORD"] == wrong and "RM_ENCRYPTION_KEYS" not in env
    failed = Backup.objects.get()
    assert "password authentication failed" in failed.status_message
    assert wrong not in failed.status_message
    assert wrong not in caplog.text
    assert wrong not in str(answer.json())
    assert not AuditEntry.objects.filter(message__contains=wrong).exists()
    assert AuditEntry.objects.filter(action="resource.backup", outcome="failure").exists()
    listed = client.get(f"{TEAM_A}/{resource['id']}/backups").json()["results"]
    assert [each["status"] for each in listed] == ["failed"]


def test_a_damaged_backup_is_refused_and_the_data_left_alone(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    owner = resource["credentials"]
    with pg_login(owner) as conn:
        conn.execute("CREATE TABLE orders AS SELECT 1 AS id")
    backup = completed_backup(client, resource)
    key = Backup.objects.get().object_key
    sealed = bytearray(bucket.read(key))
    sealed[len(sealed) // 2] ^= 0xFF
    bucket.write(key, bytes(sealed))
    with pg_login(owner) as conn:
        conn.execute("INSERT INTO orders VALUES (2)")

    answer = restore(client, resource, backup)

    assert answer.json()["status"] == "failed"
    assert "checksum" in answer.json()["status_message"]
    with pg_login(owner) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (2,)


def test_a_backup_of_another_provider_class_is_refused_clearly(
    make_client, scram_provider, mysql_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    mysql_resource = ready_resource(client, "mysql")
    backup = completed_backup(client, mysql_resource)
    created = client.post(TEAM_A, {"provider": "pg-scram", "name": "ledger"}, format="json")
    pg_resource = created.json()

    answer = client.post(f"{TEAM_A}/{pg_resource['id']}/restore",
                         {"backup": backup["id"], "confirm": "ledger"}, format="json")

    assert answer.status_code == 409
    assert answer.json()["code"] == "incompatible_backup"
    assert not Restore.objects.exists()


def test_other_scopes_and_users_can_neither_back_up_nor_restore_nor_list(
    make_client, scram_provider, bucket
):
    admin = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(admin, "pg-scram")
    backup = completed_backup(admin, resource)
    stranger = make_client(team_b="ADMIN")
    user = make_client(team_a="USER")

    assert back_up(stranger, resource, TEAM_B).status_code == 404
    assert stranger.get(f"{TEAM_B}/{resource['id']}/backups").status_code == 404
    assert stranger.get(f"{TEAM_B}/{resource['id']}/backups/{backup['id']}").status_code == 404
    assert stranger.post(f"{TEAM_B}/{resource['id']}/restore",
                         {"backup": backup["id"], "confirm": "orders"},
                         format="json").status_code == 404
    assert back_up(stranger, resource).status_code == 403
    assert back_up(user, resource).status_code == 403
    assert restore(user, resource, backup).status_code == 403
    listed = user.get(f"{TEAM_A}/{resource['id']}/backups")
    assert [each["id"] for each in listed.json()["results"]] == [backup["id"]]
    assert user.get(f"{TEAM_A}/{resource['id']}/backups/{uuid.uuid4()}").status_code == 404
    assert Backup.objects.count() == 1


def test_without_a_backup_store_a_backup_is_refused_clearly(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")

    answer = back_up(client, resource)

    assert answer.status_code == 409
    assert answer.json()["code"] == "backups_not_configured"
    assert "RM_BACKUP_STORE_URL" in answer.json()["message"]
    assert not Backup.objects.exists()


def test_deleting_the_scope_takes_its_backups_and_leaves_them_unreadable(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    completed_backup(client, resource)
    stored = Backup.objects.get()
    key = stored.object_key

    output = io.StringIO()
    call_command("delete_scope", "team-a", "--delete-resources", "--yes", stdout=output)

    assert "removed 1 backup(s)" in output.getvalue()
    assert not Backup.objects.exists()
    assert bucket.keys() == [key]  # in the store still, its key shredded with the scope's
