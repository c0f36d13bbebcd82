"""The tests' servers really check the passwords resources are issued.

``pg_provider`` lives on the session's scram-sha-256 cluster and ``mysql_provider`` on the
local MariaDB: a wrong password is refused there, so a password changed behind the
manager's back is something CHECK must notice and repair.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pymysql
import pytest
from psycopg import sql

from tests.conftest import mysql_admin_connect, pg_admin_connect

TEAM_A = "/api/c/team-a/resources"


def pg_login(credentials: dict, password: str) -> None:
    psycopg.connect(host=credentials["host"], port=credentials["port"],
                    user=credentials["username"], password=password,
                    dbname=credentials["database"], connect_timeout=5).close()


def mysql_login(credentials: dict, password: str) -> None:
    pymysql.connect(host=credentials["host"], port=credentials["port"],
                    user=credentials["username"], password=password,
                    database=credentials["database"], connect_timeout=5).close()


def pg_change_password(username: str, password: str) -> None:
    with pg_admin_connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}")
                     .format(sql.Identifier(username), sql.Literal(password)))


def mysql_change_password(username: str, password: str) -> None:
    with mysql_admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (username, password))


#: provider key -> (log in as the tenant, change its password as the server's superuser,
#: what a refused login raises)
BACKENDS: dict[str, tuple[Callable, Callable, type[Exception]]] = {
    "pg": (pg_login, pg_change_password, psycopg.OperationalError),
    "mysql": (mysql_login, mysql_change_password, pymysql.err.OperationalError),
}


@pytest.fixture(params=list(BACKENDS))
def backend(request, pg_provider, mysql_provider) -> str:
    return request.param


def create(client, provider: str) -> dict:
    response = client.post(TEAM_A, {"provider": provider, "name": "orders"}, format="json")
    assert response.json()["status"] == "ready", response.json()
    return response.json()


def check(client, resource: dict, *, repair: bool) -> dict:
    response = client.post(f"{TEAM_A}/{resource['id']}/check", {"repair": repair},
                           format="json")
    assert response.status_code == 202, response.json()
    return client.get(f"{TEAM_A}/{resource['id']}").json()["last_check"]


def test_the_issued_password_works_and_a_wrong_one_is_refused(make_client, backend):
    login, _, refused = BACKENDS[backend]
    credentials = create(make_client(team_a="RESOURCE_ADMIN"), backend)["credentials"]

    login(credentials, credentials["password"])
    with pytest.raises(refused):
        login(credentials, "wrong-" + credentials["password"])


def test_a_password_changed_behind_our_back_is_reported_then_repaired(make_client, backend):
    login, change_password, refused = BACKENDS[backend]
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client, backend)
    credentials = resource["credentials"]
    change_password(credentials["username"], "changed-by-someone")
    with pytest.raises(refused):
        login(credentials, credentials["password"])

    reported = check(client, resource, repair=False)
    assert reported["ok"] is False
    assert "password" in reported["message"]
    assert credentials["password"] not in reported["message"]
    with pytest.raises(refused):  # reporting changes nothing
        login(credentials, credentials["password"])

    repaired = check(client, resource, repair=True)
    assert repaired["ok"] is True, repaired
    assert "password reset" in repaired["message"]
    login(credentials, credentials["password"])
    with pytest.raises(refused):
        login(credentials, "changed-by-someone")
