"""CLEANUP through the API, on the real servers (the scram PostgreSQL cluster, MariaDB):
the data goes, the resource and every credential stay and keep working."""

from __future__ import annotations

import io

import psycopg
import pymysql
import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from resourcemanager.backups.models import Cleanup, Clone
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources.models import Resource
from tests.api.test_backups import completed_backup, mysql_login
from tests.api.test_credentials import TEAM_A, issue, pg_login, ready_resource
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)


def clean_up(client, resource: dict, confirm: str | None = "orders", **body):
    body = body | ({"confirm": confirm} if confirm is not None else {})
    return client.post(f"{TEAM_A}/{resource['id']}/cleanup", body, format="json")


def test_a_postgresql_cleanup_empties_the_database_and_every_credential_keeps_working(
    make_client, scram_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    owner = resource["credentials"]
    reader = issue(client, resource, holder="reports", access="read-only").json()["credentials"]
    with pg_login(owner) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY)")
        conn.execute("CREATE SCHEMA ledger")
        conn.execute("CREATE TABLE ledger.entries AS SELECT 1 AS id")
        conn.execute("CREATE VIEW recent AS SELECT * FROM orders")
        conn.execute("SELECT lo_create(0)")

    refused = clean_up(client, resource, confirm=None)
    assert refused.status_code == 400
    assert refused.json()["code"] == "confirmation_required"
    assert refused.json()["message"] == ("a cleanup drops all the data of 'orders'; "
                                         "confirm with \"confirm\": 'orders'")
    assert clean_up(client, resource, confirm="other").status_code == 400

    answer = clean_up(client, resource)

    assert answer.status_code == 202, answer.json()
    assert answer.json()["status"] == "completed", answer.json()
    with pg_login(owner) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone() == (0,)
        assert conn.execute("SELECT array_agg(nspname::text) FROM pg_namespace WHERE "
                            "nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
                            ).fetchone() == (["public"],)
        conn.execute("CREATE TABLE later (id int)")
        conn.execute("INSERT INTO later VALUES (7)")
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'later'"
                            ).fetchone() == (Resource.objects.get().backend_name,)
    with pg_login(reader) as conn:
        assert conn.execute("SELECT id FROM later").fetchall() == [(7,)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO later VALUES (8)")
    assert list(AuditEntry.objects.filter(action="resource.cleanup")
                .values_list("outcome", flat=True).order_by("id")) == ["accepted", "success"]
    assert OutboxMessage.objects.filter(name="resource.cleaned_up").count() == 1
    listed = client.get(f"{TEAM_A}/{resource['id']}/cleanups").json()["results"]
    assert [each["status"] for each in listed] == ["completed"]
    one = client.get(f"{TEAM_A}/{resource['id']}/cleanups/{listed[0]['id']}")
    assert one.status_code == 200 and one.json()["template"] is None


def test_a_mysql_cleanup_drops_tables_views_and_routines_and_credentials_keep_working(
    make_client, mysql_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    owner = resource["credentials"]
    reader = issue(client, resource, holder="reports", access="read-only").json()["credentials"]
    with mysql_login(owner) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, customer INT, "
                    "FOREIGN KEY (customer) REFERENCES customers (id))")
        cur.execute("CREATE VIEW recent AS SELECT * FROM orders")
        cur.execute("CREATE PROCEDURE noop() BEGIN END")
        cur.execute("CREATE FUNCTION one() RETURNS INT DETERMINISTIC RETURN 1")
        cur.execute("CREATE TRIGGER stamp BEFORE INSERT ON orders FOR EACH ROW SET NEW.id = NEW.id")

    answer = clean_up(client, resource)

    assert answer.json()["status"] == "completed", answer.json()
    database = owner["database"]
    with mysql_login(owner) as conn, conn.cursor() as cur:
        for table in ("TABLES", "ROUTINES", "TRIGGERS"):
            column = "TRIGGER_SCHEMA" if table == "TRIGGERS" else (
                "ROUTINE_SCHEMA" if table == "ROUTINES" else "TABLE_SCHEMA")
            cur.execute(f"SELECT count(*) FROM information_schema.{table} "  # noqa: S608
                        f"WHERE {column} = %s", (database,))
            assert cur.fetchone() == (0,), table
        cur.execute("CREATE TABLE later (id INT)")
        cur.execute("INSERT INTO later VALUES (7)")
    with mysql_login(reader) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM later")
        assert cur.fetchall() == ((7,),)
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("INSERT INTO later VALUES (8)")


def test_a_cleanup_with_a_template_restores_it_into_the_emptied_resource(
    make_client, scram_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    model = ready_resource(client, "pg-scram")
    with pg_login(model["credentials"]) as conn:
        conn.execute("CREATE TABLE settings (name text PRIMARY KEY, value text)")
        conn.execute("INSERT INTO settings VALUES ('currency', 'EUR')")
    template = completed_backup(client, model)
    created = client.post(TEAM_A, {"provider": "pg-scram", "name": "shop"}, format="json")
    shop = created.json()
    reader = issue(client, shop, holder="reports", access="read-only").json()["credentials"]
    with pg_login(shop["credentials"]) as conn:
        conn.execute("CREATE TABLE junk AS SELECT 1 AS id")

    answer = clean_up(client, shop, confirm="shop", template=template["id"])

    assert answer.json()["status"] == "completed", answer.json()
    assert answer.json()["template"] == template["id"]
    with pg_login(reader) as conn:
        assert conn.execute("SELECT value FROM settings").fetchall() == [("EUR",)]
        assert conn.execute("SELECT to_regclass('junk')").fetchone() == (None,)
    with pg_login(shop["credentials"]) as conn:
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'settings'"
                            ).fetchone() == (shop["credentials"]["username"],)


def test_a_cleanup_refuses_bad_templates_and_waits_for_a_running_operation(
    make_client, scram_provider, mysql_provider, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    mysql_resource = ready_resource(client, "mysql")
    mysql_backup = completed_backup(client, mysql_resource)
    pg = client.post(TEAM_A, {"provider": "pg-scram", "name": "ledger"}, format="json").json()

    def refused(template: str) -> dict:
        answer = clean_up(client, pg, confirm="ledger", template=template)
        return {"status": answer.status_code, **answer.json()}

    assert refused(mysql_backup["id"])["code"] == "incompatible_backup"
    assert refused(mysql_backup["id"])["status"] == 409
    assert refused("00000000-0000-0000-0000-000000000000")["status"] == 404
    assert refused("not-an-id")["status"] == 404
    Resource.objects.filter(pk=pg["id"]).update(
        operation="check", lease_id="00000000-0000-0000-0000-000000000001",
        lease_expires_at="2999-01-01T00:00:00Z")
    busy = clean_up(client, pg, confirm="ledger")
    assert busy.status_code == 409 and busy.json()["code"] == "operation_running"
    assert not Cleanup.objects.exists()


def test_a_failed_cleanup_is_recorded_without_a_secret(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    stored = Resource.objects.get()
    wrong = "wrong-password-of-the-owner"
    stored.credentials = {**stored.credentials, "password": wrong}
    stored.save()

    answer = clean_up(client, resource)

    assert answer.json()["status"] == "failed"
    assert "password authentication failed" in Cleanup.objects.get().status_message
    assert wrong not in str(answer.json())
    assert not AuditEntry.objects.filter(message__contains=wrong).exists()
    assert AuditEntry.objects.filter(action="resource.cleanup", outcome="failure").exists()
    assert Resource.objects.get().status == "ready"


def test_deleting_the_scope_takes_its_cleanups_and_clones(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    assert clean_up(client, resource).json()["status"] == "completed"
    made = client.post(f"{TEAM_A}/{resource['id']}/clone", {"name": "copy"}, format="json")
    assert made.json()["status"] == "completed"

    call_command("delete_scope", "team-a", "--delete-resources", "--yes", stdout=io.StringIO())

    assert not Cleanup.objects.exists() and not Clone.objects.exists()


def test_a_bucket_is_not_cleaned_up_yet(make_client, s3_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    bucket = client.post(TEAM_A, {"provider": "s3", "name": "assets"}, format="json").json()

    answer = clean_up(client, bucket, confirm="assets")

    assert answer.status_code == 409 and answer.json()["code"] == "not_offered"
    assert not Cleanup.objects.exists()
