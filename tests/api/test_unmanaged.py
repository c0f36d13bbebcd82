"""ADD and REMOVE of unmanaged resources: records only, the backend is never touched."""

import psycopg
import pytest
from django.db import connection

from audit.models import AuditEntry
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources.models import Resource
from tests.conftest import PG_HOST, PG_PORT, pg_admin_connect

TEAM_A = "/api/c/team-a/resources"
ADD = f"{TEAM_A}/add"
SECRET = "external-secret-7f3a"


@pytest.fixture
def external_database(pg_provider):
    """A database that exists on the server but was not made by us."""
    with pg_admin_connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS external_reports")
        conn.execute("DROP ROLE IF EXISTS external_reader")
        conn.execute(f"CREATE ROLE external_reader LOGIN PASSWORD '{SECRET}'")
        conn.execute("CREATE DATABASE external_reports OWNER external_reader")
    yield f"postgresql://external_reader:{SECRET}@{PG_HOST}:{PG_PORT}/external_reports"
    with pg_admin_connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS external_reports")
        conn.execute("DROP ROLE IF EXISTS external_reader")


def exists_on_server() -> tuple[bool, bool]:
    with pg_admin_connect() as conn:
        database = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = 'external_reports'").fetchone()
        role = conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = 'external_reader'").fetchone()
    return database == (1,), role == (1,)


def test_add_registers_a_read_only_resource_with_encrypted_credentials(
    make_client, external_database
):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(ADD, {"provider": "pg", "name": "reports", "uri": external_database,
                                 "tags": ["bi"]}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["managed"], body["status"], body["type"]) == (False, "ready", "sql")
    assert body["credentials"]["username"] == "external_reader"
    assert body["credentials"]["database"] == "external_reports"
    with psycopg.connect(body["credentials"]["uri"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("external_reports",)
    with connection.cursor() as cursor:  # the column holds ciphertext only
        cursor.execute("SELECT credentials FROM resourcemanager_resource WHERE id = %s",
                       [body["id"].replace("-", "") if connection.vendor == "sqlite"
                        else body["id"]])
        [(stored,)] = cursor.fetchall()
    assert SECRET not in str(stored) and "external_reader" not in str(stored)
    assert AuditEntry.objects.filter(action="resource.add", target_id=body["id"]).exists()
    assert OutboxMessage.objects.filter(resource_id=body["id"], name="resource.created").exists()


def test_an_unmanaged_resource_is_read_only(make_client, external_database):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = client.post(ADD, {"provider": "pg", "name": "reports",
                                    "uri": external_database}, format="json").json()["id"]

    patch = client.patch(f"{TEAM_A}/{resource_id}", {"tags": ["x"]}, format="json")
    check = client.post(f"{TEAM_A}/{resource_id}/check")

    assert (patch.status_code, patch.json()["code"]) == (409, "unmanaged")
    assert (check.status_code, check.json()["code"]) == (409, "unmanaged")


def test_remove_deletes_the_record_and_leaves_the_backend_alone(make_client, external_database):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = client.post(ADD, {"provider": "pg", "name": "reports",
                                    "uri": external_database}, format="json").json()["id"]

    response = client.delete(f"{TEAM_A}/{resource_id}")

    assert response.status_code == 202
    assert response.json()["status"] == "deleted"
    assert exists_on_server() == (True, True)
    with psycopg.connect(external_database, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert Resource.objects.get(pk=resource_id).credentials is None
    assert AuditEntry.objects.filter(action="resource.remove", target_id=resource_id).exists()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("mysql://u:p@h:3306/db", "PostgreSQL URIs start with postgresql://"),
        ("postgresql://h:5432/db", "names a host, a user and a database"),
        ("postgresql://u:p@h:5432/", "names a host, a user and a database"),
        ("postgresql://u:p@:5432/db", "names a host, a user and a database"),
        ("postgresql://u:p@h:99999/db", "port is not a number"),
        ("postgresql://u:p@h:54x/db", "port is not a number"),
        ("postgresql://u:p@h:0/db", "port is not a number"),
        ("postgresql://u:p@[::1:5432/db", "an IPv6 address goes in brackets"),
        ("postgresql://u:p@h/db name", "without spaces or control characters"),
        ("postgresql://u:p@h/db\n", "without spaces or control characters"),
        ("not a uri at all", "without spaces"),
        ("postgresql://u:p@h/" + "d" * 2000, "at most 2000 characters"),
    ],
)
def test_add_refuses_a_malformed_or_unsupported_uri_without_echoing_it(
    make_client, pg_provider, uri, message
):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(ADD, {"provider": "pg", "name": "reports", "uri": uri},
                           format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_uri"
    assert message in response.json()["message"]
    assert ":p@" not in response.content.decode()
    assert not Resource.objects.exists()


@pytest.mark.parametrize("role", ["USER", "CONSUMER_ADMIN"])
def test_only_resource_managers_may_add(make_client, pg_provider, role):
    client = make_client(team_a=role)

    response = client.post(ADD, {"provider": "pg", "name": "reports",
                                 "uri": "postgresql://u:p@h:5432/db"}, format="json")

    assert response.status_code == 403
    assert not Resource.objects.exists()


def test_add_uses_the_name_rules_of_managed_resources(make_client, pg_provider):
    client = make_client(team_a="ADMIN")
    uri = "postgresql://u:p@h:5432/db"

    first = client.post(ADD, {"provider": "pg", "name": "reports", "uri": uri}, format="json")
    again = client.post(ADD, {"provider": "pg", "name": "reports", "uri": uri}, format="json")
    bad = client.post(ADD, {"provider": "pg", "name": "Reports; DROP", "uri": uri},
                      format="json")

    assert first.status_code == 201
    assert (again.status_code, again.json()["code"]) == (409, "name_taken")
    assert bad.status_code == 400
