"""POST /resources/{id}/check: detects broken logins and repairs them.

PostgreSQL repairs are proven on the throwaway scram-sha-256 cluster: the machine's main
server trusts every password, so a wrong password would go unnoticed there.
"""

import psycopg
import pymysql
import pytest
from psycopg import sql

from tests.conftest import mysql_admin_connect, pg_admin_connect

TEAM_A = "/api/c/team-a/resources"


def create(client, provider):
    response = client.post(TEAM_A, {"provider": provider, "name": "orders"}, format="json")
    assert response.json()["status"] == "ready", response.json()
    return response.json()


def check(client, resource, **body):
    response = client.post(f"{TEAM_A}/{resource['id']}/check", body, format="json")
    assert response.status_code == 202, response.json()
    return client.get(f"{TEAM_A}/{resource['id']}").json()


def pg_login_works(credentials) -> bool:
    try:
        psycopg.connect(credentials["uri"], connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


def mysql_login_works(credentials) -> bool:
    try:
        pymysql.connect(host=credentials["host"], port=credentials["port"],
                        user=credentials["username"], password=credentials["password"],
                        database=credentials["database"]).close()
    except pymysql.MySQLError:
        return False
    return True


def test_a_healthy_resource_checks_ok(make_client, scram_provider):
    client = make_client(team_a="USER", team_b="RESOURCE_ADMIN")
    admin = make_client(team_a="RESOURCE_ADMIN")
    resource = create(admin, "pg-scram")

    detail = check(client, resource)

    assert detail["last_check"]["ok"] is True
    assert detail["last_check"]["at"] is not None


def test_changed_postgresql_password_is_detected_and_reset(
    make_client, scram_provider, scram_cluster
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client, "pg-scram")
    credentials = resource["credentials"]
    with scram_cluster.superuser_connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD 'changed-by-someone'").format(
            sql.Identifier(credentials["username"])))
    assert not pg_login_works(credentials)

    without_repair = check(client, resource, repair=False)
    assert without_repair["last_check"]["ok"] is False
    assert not pg_login_works(credentials)

    repaired = check(client, resource)
    assert repaired["last_check"]["ok"] is True
    assert "password" in repaired["last_check"]["message"]
    assert pg_login_works(credentials)


def test_dropped_postgresql_login_is_recreated(make_client, scram_provider, scram_cluster):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client, "pg-scram")
    credentials = resource["credentials"]
    name = sql.Identifier(credentials["username"])
    with scram_cluster.superuser_connect() as conn:
        # Ownership must go somewhere before the role can be dropped: to the instance admin.
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            name, sql.Identifier(scram_cluster.admin_user)))
        conn.execute(sql.SQL("DROP ROLE {}").format(name))
    assert not pg_login_works(credentials)

    repaired = check(client, resource)

    assert repaired["last_check"]["ok"] is True, repaired["last_check"]
    assert pg_login_works(credentials)
    with psycopg.connect(credentials["uri"], autocommit=True) as conn:
        conn.execute("CREATE TABLE after_repair (id int)")


def test_dropped_mysql_account_is_recreated(make_client, mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client, "mysql")
    credentials = resource["credentials"]
    with mysql_admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("DROP USER %s@'%%'", (credentials["username"],))
    assert not mysql_login_works(credentials)

    assert check(client, resource, repair=False)["last_check"]["ok"] is False
    assert check(client, resource)["last_check"]["ok"] is True
    assert mysql_login_works(credentials)


def test_changed_mysql_password_is_reset(make_client, mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client, "mysql")
    credentials = resource["credentials"]
    with mysql_admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY 'changed-by-someone'",
                       (credentials["username"],))
    assert not mysql_login_works(credentials)

    assert check(client, resource)["last_check"]["ok"] is True
    assert mysql_login_works(credentials)


def test_a_dropped_database_is_reported_not_silently_recreated(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client, "pg")
    with pg_admin_connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
            sql.Identifier(resource["credentials"]["database"])))

    detail = check(client, resource)

    assert detail["last_check"]["ok"] is False
    assert "no longer exists" in detail["last_check"]["message"]


def test_an_unreachable_server_fails_the_check_readably(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client, "pg")
    pg_provider.port = 1
    pg_provider.save()

    detail = check(client, resource)

    assert detail["last_check"]["ok"] is False
    # The server's address is the operators' (admin, logs); tenants get a reference.
    assert detail["last_check"]["message"].startswith("the PostgreSQL server could not be "
                                                      "reached (ref ")
    assert detail["status"] == "ready"


@pytest.mark.parametrize("role", ["USER", "CONSUMER_ADMIN"])
def test_every_role_may_check(make_client, pg_provider, role):
    resource = create(make_client(team_a="RESOURCE_ADMIN"), "pg")
    client = make_client(team_a=role)

    assert check(client, resource)["last_check"]["ok"] is True


def test_a_deleted_resource_cannot_be_checked(make_client, pg_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client, "pg")
    client.delete(f"{TEAM_A}/{resource['id']}")

    response = client.post(f"{TEAM_A}/{resource['id']}/check", format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_a_check_of_a_resource_whose_creation_failed_records_its_outcome(
    make_client, pg_provider
):
    """The CHECK creates it again; the last check says what came of that, failed or not."""
    client = make_client(team_a="RESOURCE_ADMIN")
    port, pg_provider.port = pg_provider.port, 1
    pg_provider.save()
    failed = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    assert (failed["status"], failed["last_check"]["at"]) == ("error", None)

    still_down = check(client, failed)

    assert still_down["status"] == "error"
    assert still_down["last_check"]["ok"] is False
    assert still_down["last_check"]["at"]
    assert still_down["last_check"]["message"].startswith(
        "the PostgreSQL server could not be reached (ref ")

    pg_provider.port = port
    pg_provider.save()
    repaired = check(client, failed)

    assert repaired["status"] == "ready"
    assert repaired["last_check"]["ok"] is True
    assert repaired["last_check"]["at"] > still_down["last_check"]["at"]
    assert repaired["last_check"]["message"] == "created again (repaired: creation)"
