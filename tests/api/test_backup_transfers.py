"""EXPORT and IMPORT through the API, on the real servers: a dump downloaded is what the
server's own tools read, a dump uploaded becomes a backup that RESTORE brings into the
resource as its owner, and bad uploads change nothing."""

from __future__ import annotations

import io
import subprocess
import uuid

import pytest

from resourcemanager.backups import transfers
from resourcemanager.backups.models import Backup
from resourcemanager.core.errors import InvalidInput
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.resources.models import Resource
from tests.api.test_backups import completed_backup, mysql_login, restore
from tests.api.test_credentials import TEAM_A, TEAM_B, issue, pg_login, ready_resource
from tests.conftest import (
    NAME_PREFIX,
    PG_HOST,
    PG_PASSWORD,
    PG_PORT,
    PG_USER,
    mysql_admin_connect,
    pg_admin_connect,
)
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)

DUMP = "application/octet-stream"


def export(client, resource: dict, backup: dict | None = None, scope_path: str = TEAM_A):
    query = f"?backup={backup['id']}" if backup else ""
    return client.get(f"{scope_path}/{resource['id']}/export{query}")


def upload(client, resource: dict, dump: bytes, content_type: str = DUMP):
    return client.post(f"{TEAM_A}/{resource['id']}/import", data=dump,
                       content_type=content_type)


def downloaded(answer) -> bytes:
    assert answer.status_code == 200, answer
    return b"".join(answer.streaming_content)


def test_a_postgresql_dump_goes_out_and_into_another_resource_for_its_credentials(
    make_client, scram_provider, bucket, tmp_path
):
    client = make_client(team_a="RESOURCE_ADMIN")
    source = ready_resource(client, "pg-scram")
    with pg_login(source["credentials"]) as conn:
        conn.execute("CREATE TABLE parcels AS SELECT n AS id FROM generate_series(1, 300) n")
    backup = completed_backup(client, source)

    answer = export(client, source)
    dump = downloaded(answer)
    assert answer["X-Backup-Id"] == backup["id"]
    assert answer["Content-Disposition"].startswith('attachment; filename="orders-')
    listing = tmp_path / "orders.dump"
    listing.write_bytes(dump)
    toc = subprocess.run(["pg_restore", "--list", str(listing)], capture_output=True,
                         check=True, text=True).stdout
    assert "TABLE public parcels" in toc

    target = client.post(TEAM_A, {"provider": "pg-scram", "name": "copy"}, format="json").json()
    reader = issue(client, target, holder="reports", access="read-only").json()["credentials"]
    imported = upload(client, target, dump)
    assert imported.status_code == 201, imported.json()
    assert imported.json()["origin"] == "import"
    assert imported.json()["status"] == "completed"
    assert imported.json()["dump_size"] == len(dump)
    times = [imported.json()[name] for name in ("created_at", "started_at", "completed_at")]
    assert times == sorted(times) and len(set(times)) == 2, times  # asked when it began
    restored = restore(client, target, imported.json(), confirm="copy")
    assert restored.json()["status"] == "completed", restored.json()
    with pg_login(reader) as conn:
        assert conn.execute("SELECT count(*) FROM parcels").fetchone() == (300,)
    with pg_login(target["credentials"]) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'parcels'"
                             ).fetchone()[0]
    assert owner != source["credentials"]["username"]


def test_a_mysql_dump_goes_out_as_sql_and_back_in(make_client, mysql_provider, bucket):
    client = make_client(team_a="ADMIN")
    resource = ready_resource(client, "mysql")
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)")
        cur.execute("INSERT INTO notes VALUES (1, 'kept')")
        cur.execute("CREATE FUNCTION first_note() RETURNS TEXT READS SQL DATA "
                    "RETURN (SELECT body FROM notes WHERE id = 1)")
    completed_backup(client, resource)

    dump = downloaded(export(client, resource))
    assert b"INSERT INTO `notes`" in dump and b"FUNCTION `first_note`" in dump

    imported = upload(client, resource, dump)
    assert imported.status_code == 201, imported.json()
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE notes")
        cur.execute("DROP FUNCTION first_note")
    assert restore(client, resource, imported.json()).json()["status"] == "completed"
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT body, first_note() FROM notes")
        assert cur.fetchall() == (("kept", "kept"),)


def test_a_dump_that_needs_a_superuser_fails_and_leaves_the_database_as_it_was(
    make_client, scram_provider, bucket, tmp_path
):
    """An event trigger needs a superuser: the restore, as the owner, fails as a whole."""
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    with pg_login(resource["credentials"]) as conn:
        conn.execute("CREATE TABLE before_import (id int)")
    scratch = f"{NAME_PREFIX}_superuser_dump"
    with pg_admin_connect() as admin:
        admin.execute(f'CREATE DATABASE "{scratch}"')
    try:
        with pg_admin_connect(scratch) as conn:
            conn.execute("CREATE TABLE smuggled (id int)")
            conn.execute("CREATE FUNCTION watch() RETURNS event_trigger LANGUAGE plpgsql "
                         "AS $$ BEGIN END $$")
            conn.execute("CREATE EVENT TRIGGER watcher ON ddl_command_start "
                         "EXECUTE FUNCTION watch()")
        dump = subprocess.run(
            ["pg_dump", "--format=custom", f"--host={PG_HOST}", f"--port={PG_PORT}",
             f"--username={PG_USER}", f"--dbname={scratch}"],
            capture_output=True, check=True, env={"PGPASSWORD": PG_PASSWORD or ""}).stdout
    finally:
        with pg_admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}"')

    imported = upload(client, resource, dump).json()
    restored = restore(client, resource, imported)

    assert restored.json()["status"] == "failed"
    assert "event trigger" in restored.json()["status_message"]
    with pg_login(resource["credentials"]) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"before_import"}


def test_a_mysql_dump_that_fails_halfway_leaves_the_resource_as_it_was(
    make_client, mysql_provider, bucket
):
    """MySQL cannot undo a restore halfway: an uploaded dump is tried on a scratch copy
    first, and one that fails there never reaches the resource."""
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)")
        cur.execute("INSERT INTO notes VALUES (1, 'in the dump')")
    completed_backup(client, resource)
    dump = downloaded(export(client, resource))
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO notes VALUES (2, 'written after the export')")
    tampered = dump + (b"\nCREATE TABLE smuggled (id INT);\n"
                       b"CREATE USER 'intruder'@'%' IDENTIFIED BY 'pw';\n")
    databases_before = _mysql_databases()

    imported = upload(client, resource, tampered)
    assert imported.status_code == 201, imported.json()
    failed = restore(client, resource, imported.json())

    assert failed.json()["status"] == "failed", failed.json()
    assert "left as it was" in failed.json()["status_message"]
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM notes ORDER BY id")
        assert cur.fetchall() == ((1,), (2,))  # not replaced by the dump's table
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == (("notes",),)
    assert _mysql_databases() == databases_before  # no scratch copy left
    good = upload(client, resource, dump).json()  # an upload that restores goes through
    assert restore(client, resource, good).json()["status"] == "completed"
    with mysql_login(resource["credentials"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM notes")
        assert cur.fetchall() == ((1,),)


def _mysql_databases() -> set[str]:
    """This test process's databases (other processes of the run make theirs meanwhile)."""
    with mysql_admin_connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        return {name for (name,) in cur.fetchall() if name.startswith(NAME_PREFIX)}


def test_bad_uploads_are_refused_and_leave_nothing(make_client, scram_provider, bucket,
                                                   settings):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")

    not_a_dump = upload(client, resource, b"DROP TABLE everything;")
    assert not_a_dump.status_code == 400
    assert not_a_dump.json()["code"] == "not_a_dump"
    assert "postgresql-custom" in not_a_dump.json()["message"]
    assert upload(client, resource, b"PGDMP...", content_type="text/plain").status_code == 415
    assert upload(client, resource, b"").json()["code"] == "dump_required"
    settings.RM_BACKUP_IMPORT_MAX_BYTES = 10
    too_large = upload(client, resource, b"PGDMP" + b"x" * 10)
    assert too_large.status_code == 413
    assert "RM_BACKUP_IMPORT_MAX_MB" in too_large.json()["message"]

    assert not Backup.objects.exists()
    assert bucket.keys() == [] and bucket.unfinished_uploads() == []


def test_an_upload_cut_short_stores_nothing(make_client, scram_provider, bucket):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = Resource.objects.get(pk=ready_resource(client, "pg-scram")["id"])

    with pytest.raises(InvalidInput, match="short of its Content-Length"):
        transfers.import_dump(SYSTEM, resource, io.BytesIO(b"PGDMP" + b"x" * 100), 5000)

    assert not Backup.objects.exists()
    assert bucket.keys() == [] and bucket.unfinished_uploads() == []


def test_only_resource_admins_of_the_scope_export_and_import(
    make_client, scram_provider, bucket
):
    admin = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(admin, "pg-scram")
    backup = completed_backup(admin, resource)
    dump = downloaded(export(admin, resource, backup))
    user = make_client(team_a="USER")
    consumer_admin = make_client(team_a="CONSUMER_ADMIN")
    stranger = make_client(team_b="ADMIN")

    for client in (user, consumer_admin):
        assert export(client, resource).status_code == 403
        assert upload(client, resource, dump).status_code == 403
    assert export(stranger, resource, scope_path=TEAM_B).status_code == 404
    assert export(stranger, resource).status_code == 403
    assert stranger.post(f"{TEAM_B}/{resource['id']}/import", data=dump,
                         content_type=DUMP).status_code == 404
    assert export(admin, resource, {"id": str(uuid.uuid4())}).status_code == 404
    assert Backup.objects.count() == 1
