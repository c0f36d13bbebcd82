"""Credentials of a resource through the API, on the real servers: issued per holder and
access level, used with their own password, revoked with their sessions ended."""

from __future__ import annotations

import time

import psycopg
import pymysql
import pytest

from audit.models import AuditEntry
from resourcemanager.resources import credential_sweeps
from resourcemanager.resources.models import OWNER_HOLDER, Credential
from tests.support.credentials import issued_credentials

TEAM_A = "/api/c/team-a/resources"
TEAM_B = "/api/c/team-b/resources"


def ready_resource(client, provider: str) -> dict:
    created = client.post(TEAM_A, {"provider": provider, "name": "orders"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "ready"
    return created.json()


def owner_id(resource: dict) -> str:
    """The id of the resource's owner credential."""
    return str(Credential.objects.get(resource_id=resource["id"], holder=OWNER_HOLDER).pk)


def issue(client, resource: dict, **body):
    return client.post(f"{TEAM_A}/{resource['id']}/credentials", body, format="json")


def pg_login(fields: dict) -> psycopg.Connection:
    """Through the scram cluster: the password is really checked."""
    return psycopg.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                           password=fields["password"], dbname=fields["database"],
                           autocommit=True, connect_timeout=5)


def test_a_read_only_credential_reads_later_tables_and_changes_nothing(
    make_client, scram_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    answer = issue(client, resource, holder="reports", access="read-only")

    assert answer.status_code == 202, answer.json()
    issued = answer.json()
    assert (issued["holder"], issued["access"], issued["status"]) == (
        "reports", "read-only", "active")
    fields = issued["credentials"]
    assert fields["username"] == issued["username"] != resource["credentials"]["username"]
    with pg_login(resource["credentials"]) as owner:
        owner.execute("CREATE TABLE sales AS SELECT 42 AS amount")
    with pg_login(fields) as reader:
        assert reader.execute("SELECT amount FROM sales").fetchone() == (42,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("INSERT INTO sales VALUES (1)")


def test_lists_and_reads_never_carry_the_secret(make_client, scram_provider):
    client = make_client(team_a="ADMIN")
    resource = ready_resource(client, "pg-scram")
    issued = issue(client, resource, holder="etl", access="read-write").json()
    password = issued["credentials"]["password"]

    listed = client.get(f"{TEAM_A}/{resource['id']}/credentials")
    one = client.get(f"{TEAM_A}/{resource['id']}/credentials/{issued['id']}")

    assert listed.status_code == one.status_code == 200
    assert [(item["id"], item["holder"]) for item in listed.json()["results"]] == [
        (issued["id"], "etl"), (owner_id(resource), "resource:owner")]
    for text in (listed.content, one.content):
        assert password.encode() not in text
        assert resource["credentials"]["password"].encode() not in text
        assert b"credentials" not in text
    entries = AuditEntry.objects.filter(action__startswith="credential.")
    assert sorted(entries.values_list("action", "outcome")) == [
        ("credential.issue", "accepted"), ("credential.issue", "success")]
    assert all(password not in entry.message for entry in entries)


def test_revoking_ends_the_open_session_and_refuses_the_password(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    issued = issue(client, resource, holder="bi", access="read-only").json()
    session = pg_login(issued["credentials"])

    started = time.monotonic()
    revoked = client.delete(f"{TEAM_A}/{resource['id']}/credentials/{issued['id']}")

    assert revoked.status_code == 202, revoked.json()
    assert revoked.json()["status"] == "revoked"
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    assert time.monotonic() - started < 5
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        pg_login(issued["credentials"])
    again = client.delete(f"{TEAM_A}/{resource['id']}/credentials/{issued['id']}")
    assert (again.status_code, again.json()["status"]) == (202, "revoked")


def test_a_mysql_read_write_credential_writes_but_does_not_change_the_schema(
    make_client, mysql_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    fields = issue(client, resource, holder="app", access="read-write").json()["credentials"]
    owner = resource["credentials"]
    with pymysql.connect(host=owner["host"], port=owner["port"], user=owner["username"],
                         password=owner["password"], database=owner["database"]) as conn:
        conn.cursor().execute("CREATE TABLE items (id int)")
    with pymysql.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                         password=fields["password"], database=fields["database"],
                         autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO items VALUES (1)")
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("CREATE TABLE mine (a int)")


def test_an_expired_credential_is_revoked_by_the_sweep(make_client, mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mysql")
    issued = issue(client, resource, holder="temp", access="read-only", ttl=60).json()
    assert issued["expires_at"] is not None
    Credential.objects.filter(pk=issued["id"]).update(expires_at="2000-01-01T00:00:00Z")

    assert credential_sweeps.sweep_credentials() == 1

    credential = Credential.objects.get(pk=issued["id"])
    assert credential.status == Credential.Status.REVOKED
    with pytest.raises(pymysql.err.OperationalError):
        fields = issued["credentials"]
        pymysql.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                        password=fields["password"], database=fields["database"])
    assert AuditEntry.objects.filter(action="credential.expire").count() == 1


def test_deleting_the_resource_revokes_its_credentials(make_client, scram_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    issued = issue(client, resource, holder="bi", access="owner").json()

    assert client.delete(f"{TEAM_A}/{resource['id']}").status_code == 202

    assert Credential.objects.get(pk=issued["id"]).status == Credential.Status.REVOKED
    with pytest.raises(psycopg.OperationalError):
        pg_login(issued["credentials"])


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"holder": "bi", "access": "superuser"}, 400, "access"),
    ({"holder": "Not A Name!", "access": "read-only"}, 400, "holder"),
    ({"holder": "user:nobody-here", "access": "read-only"}, 400, "holder"),
    ({"holder": "bi", "access": "read-only", "ttl": 10}, 400, "ttl"),
    ({"holder": "bi", "access": "read-only", "ttl": 10**9}, 400, "ttl"),
    ({"access": "read-only"}, 400, "holder"),
])
def test_bad_requests_are_refused_and_change_nothing(
    make_client, scram_provider, body, code, field
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")

    answer = issue(client, resource, **body)

    assert answer.status_code == code, answer.json()
    assert field in str(answer.json())
    assert not issued_credentials().exists()


def test_a_provider_without_credentials_of_its_own_says_so(make_client, memory_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "mem")

    answer = issue(client, resource, holder="bi", access="read-only")

    assert answer.status_code == 409
    assert answer.json()["code"] == "not_offered"


@pytest.mark.parametrize("role", ["USER", "CONSUMER_ADMIN"])
def test_only_resource_admins_see_and_issue_credentials(make_client, scram_provider, role):
    admin = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(admin, "pg-scram")
    issued = issue(admin, resource, holder="bi", access="read-only").json()
    other = make_client(team_a=role)
    url = f"{TEAM_A}/{resource['id']}/credentials"

    assert other.get(url).json()["results"] == []  # what it holds itself: nothing
    assert other.get(f"{url}/{issued['id']}").status_code == 404
    assert other.post(f"{url}/{issued['id']}/reveal").status_code == 404
    assert other.post(url, {"holder": "x", "access": "owner"}, format="json").status_code == 403
    assert other.post(f"{url}/{issued['id']}/rotate").status_code == 403
    assert other.post(f"{url}/{issued['id']}/renew").status_code == 404
    assert other.delete(f"{url}/{issued['id']}").status_code == 404
    assert Credential.objects.get(pk=issued["id"]).status == Credential.Status.ACTIVE


def test_another_scope_finds_neither_the_resource_nor_its_credentials(
    make_client, scram_provider
):
    admin = make_client(team_a="ADMIN")
    resource = ready_resource(admin, "pg-scram")
    issued = issue(admin, resource, holder="bi", access="read-only").json()
    foreign = make_client(team_b="ADMIN")

    for url in (f"{TEAM_B}/{resource['id']}/credentials",
                f"{TEAM_B}/{resource['id']}/credentials/{issued['id']}"):
        assert foreign.get(url).status_code == 404
    assert foreign.delete(
        f"{TEAM_B}/{resource['id']}/credentials/{issued['id']}").status_code == 404
    assert Credential.objects.get(pk=issued["id"]).status == Credential.Status.ACTIVE


def test_a_failure_naming_the_shared_server_reads_as_a_neutral_sentence(
    make_client, scram_provider
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = ready_resource(client, "pg-scram")
    issued = issue(client, resource, holder="bi", access="read-only").json()
    detail = f"PostgreSQL at {scram_provider.host}:{scram_provider.port}: refused"
    Credential.objects.filter(pk=issued["id"]).update(status="error", status_message=detail)

    shown = client.get(f"{TEAM_A}/{resource['id']}/credentials/{issued['id']}").json()

    assert shown["status_message"].startswith("the PostgreSQL server could not")
    assert scram_provider.host not in shown["status_message"]
