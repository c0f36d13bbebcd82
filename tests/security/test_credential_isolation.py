"""A tenant's credential reaches its own database and nothing else, end to end.

Resources are created through the API; then team-a's credential attacks team-b's resource
and the server directly. PostgreSQL runs on the throwaway scram-sha-256 cluster (with a
least-privilege instance admin) and on the machine's main server (superuser admin). The
main server trusts every password, so password checks are made on the scram cluster only;
it also lets PUBLIC connect to ``postgres``, so no test relies on that database there.
"""

from __future__ import annotations

import uuid

import psycopg
import pymysql
import pytest
from psycopg import sql

from resourcemanager.identity.roles import Role
from tests.security.conftest import (
    Tenant,
    create_tenant,
    mysql_connect,
    mysql_read_private_row,
    pg_connect,
    pg_read_private_row,
)

ER_DBACCESS_DENIED = 1044
ER_ACCESS_DENIED = 1045
ER_TABLEACCESS_DENIED = 1142
ER_SPECIFIC_ACCESS_DENIED = 1227


@pytest.fixture(params=["pg-scram", "pg"])
def pg_pair(request, make_client) -> tuple[Tenant, Tenant]:
    """(team-a, team-b) resources on one PostgreSQL instance, created through the API."""
    request.getfixturevalue("scram_provider" if request.param == "pg-scram" else "pg_provider")
    owner = make_client(team_a=Role.RESOURCE_ADMIN, team_b=Role.RESOURCE_ADMIN)
    return (
        create_tenant(owner, "team-a", "alpha", provider=request.param),
        create_tenant(owner, "team-b", "bravo", provider=request.param),
    )


@pytest.fixture
def scram_pair(make_client, scram_provider) -> tuple[Tenant, Tenant]:
    owner = make_client(team_a=Role.RESOURCE_ADMIN, team_b=Role.RESOURCE_ADMIN)
    return (
        create_tenant(owner, "team-a", "alpha", provider="pg-scram"),
        create_tenant(owner, "team-b", "bravo", provider="pg-scram"),
    )


@pytest.fixture
def mysql_pair(make_client, mysql_provider) -> tuple[Tenant, Tenant]:
    owner = make_client(team_a=Role.RESOURCE_ADMIN, team_b=Role.RESOURCE_ADMIN)
    return (
        create_tenant(owner, "team-a", "alpha", provider="mysql"),
        create_tenant(owner, "team-b", "bravo", provider="mysql"),
    )


def fresh_name() -> str:
    return "rm_" + uuid.uuid4().hex[:12]


# --- PostgreSQL ------------------------------------------------------------------------


def test_pg_own_credential_works(pg_pair):
    alpha, _ = pg_pair

    assert pg_read_private_row(alpha) == alpha.data


def test_pg_credential_cannot_connect_to_another_tenants_database(pg_pair):
    alpha, bravo = pg_pair

    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        pg_connect(alpha.credentials, dbname=bravo.backend_name)


def test_pg_credential_cannot_create_databases(pg_pair):
    alpha, _ = pg_pair
    name = fresh_name()

    with pg_connect(alpha.credentials) as conn:
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="permission denied to create database"
        ):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        assert conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone() == (0,)


def test_pg_credential_cannot_create_roles(pg_pair):
    alpha, _ = pg_pair
    name = fresh_name()

    with pg_connect(alpha.credentials) as conn:
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="permission denied to create role"
        ):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        assert conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = %s", (name,)
        ).fetchone() == (0,)


def test_pg_credential_cannot_become_another_tenant(pg_pair):
    alpha, bravo = pg_pair

    with pg_connect(alpha.credentials) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="permission denied to set role"
    ):
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(bravo.credentials["username"])))


def test_pg_credential_cannot_drop_another_tenants_database(pg_pair):
    alpha, bravo = pg_pair

    with pg_connect(alpha.credentials) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="must be owner"
    ):
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(bravo.backend_name)))

    assert pg_read_private_row(bravo) == bravo.data


def test_pg_credential_cannot_change_another_tenants_password(pg_pair):
    alpha, bravo = pg_pair

    with pg_connect(alpha.credentials) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege
    ):
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD 'taken-over'")
                     .format(sql.Identifier(bravo.credentials["username"])))

    assert pg_read_private_row(bravo) == bravo.data


def test_pg_tenant_login_holds_no_server_wide_attribute_or_membership(pg_pair):
    alpha, _ = pg_pair

    with pg_connect(alpha.credentials) as conn:
        attributes = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        memberships = conn.execute(
            "SELECT count(*) FROM pg_auth_members WHERE member = current_user::regrole"
        ).fetchone()

    assert attributes == (False, False, False, False, False)
    assert memberships == (0,)


def test_scram_wrong_password_is_refused(scram_pair):
    alpha, _ = scram_pair

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_connect(alpha.credentials, password=alpha.credentials["password"] + "x")


def test_scram_one_tenants_password_does_not_open_another_login(scram_pair):
    alpha, bravo = scram_pair

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_connect(bravo.credentials, password=alpha.credentials["password"])


def test_scram_instance_admin_keeps_no_membership_in_tenant_roles(scram_pair, scram_cluster):
    alpha, bravo = scram_pair
    tenants = [alpha.credentials["username"], bravo.credentials["username"]]

    with scram_cluster.superuser_connect() as conn:
        held = conn.execute(
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "WHERE m.member = %s::regrole AND r.rolname = ANY(%s)",
            (scram_cluster.admin_user, tenants),
        ).fetchall()

    assert held == []


# --- MySQL / MariaDB -------------------------------------------------------------------


def mysql_error_code(excinfo: pytest.ExceptionInfo) -> int:
    return excinfo.value.args[0]


def test_mysql_own_credential_works(mysql_pair):
    alpha, _ = mysql_pair

    assert mysql_read_private_row(alpha) == alpha.data


def test_mysql_credential_cannot_connect_to_another_tenants_database(mysql_pair):
    alpha, bravo = mysql_pair

    with pytest.raises(pymysql.OperationalError) as excinfo:
        mysql_connect(alpha.credentials, database=bravo.backend_name)

    assert mysql_error_code(excinfo) == ER_DBACCESS_DENIED


@pytest.mark.parametrize(
    "statement",
    ["USE `{db}`", "SELECT * FROM `{db}`.private", "DROP DATABASE `{db}`",
     "GRANT ALL PRIVILEGES ON `{db}`.* TO CURRENT_USER"],
)
def test_mysql_credential_cannot_touch_another_tenants_database(mysql_pair, statement):
    alpha, bravo = mysql_pair

    with mysql_connect(alpha.credentials) as conn, conn.cursor() as cursor, pytest.raises(
        pymysql.MySQLError
    ) as excinfo:
        cursor.execute(statement.format(db=bravo.backend_name))

    assert mysql_error_code(excinfo) in (ER_DBACCESS_DENIED, ER_TABLEACCESS_DENIED)
    assert mysql_read_private_row(bravo) == bravo.data


def test_mysql_credential_does_not_even_see_other_databases(mysql_pair):
    alpha, _ = mysql_pair

    with mysql_connect(alpha.credentials) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW DATABASES")
        visible = {row[0] for row in cursor.fetchall()}

    assert visible == {alpha.backend_name, "information_schema"}


def test_mysql_credential_cannot_create_databases(mysql_pair):
    alpha, _ = mysql_pair

    with mysql_connect(alpha.credentials) as conn, conn.cursor() as cursor, pytest.raises(
        pymysql.MySQLError
    ) as excinfo:
        cursor.execute(f"CREATE DATABASE `{fresh_name()}`")

    assert mysql_error_code(excinfo) == ER_DBACCESS_DENIED


def test_mysql_grant_does_not_treat_the_underscore_as_a_wildcard(mysql_pair):
    """``rm_abc`` unescaped in GRANT would also match ``rmXabc``."""
    alpha, _ = mysql_pair
    lookalike = alpha.backend_name.replace("_", "x", 1)
    assert len(lookalike) == len(alpha.backend_name)

    with mysql_connect(alpha.credentials) as conn, conn.cursor() as cursor, pytest.raises(
        pymysql.MySQLError
    ) as excinfo:
        cursor.execute(f"CREATE DATABASE `{lookalike}`")

    assert mysql_error_code(excinfo) == ER_DBACCESS_DENIED


def test_mysql_credential_cannot_create_users(mysql_pair):
    alpha, _ = mysql_pair

    with mysql_connect(alpha.credentials) as conn, conn.cursor() as cursor, pytest.raises(
        pymysql.MySQLError
    ) as excinfo:
        cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY 'pw'", (fresh_name(),))

    assert mysql_error_code(excinfo) == ER_SPECIFIC_ACCESS_DENIED


def test_mysql_credential_cannot_read_the_account_table(mysql_pair):
    alpha, _ = mysql_pair

    with mysql_connect(alpha.credentials) as conn, conn.cursor() as cursor, pytest.raises(
        pymysql.MySQLError
    ) as excinfo:
        cursor.execute("SELECT * FROM mysql.user")

    assert mysql_error_code(excinfo) == ER_TABLEACCESS_DENIED


def test_mysql_wrong_password_is_refused(mysql_pair):
    alpha, _ = mysql_pair

    with pytest.raises(pymysql.OperationalError) as excinfo:
        mysql_connect(alpha.credentials, password=alpha.credentials["password"] + "x")

    assert mysql_error_code(excinfo) == ER_ACCESS_DENIED


def test_mysql_one_tenants_password_does_not_open_another_account(mysql_pair):
    alpha, bravo = mysql_pair

    with pytest.raises(pymysql.OperationalError) as excinfo:
        mysql_connect(bravo.credentials, password=alpha.credentials["password"])

    assert mysql_error_code(excinfo) == ER_ACCESS_DENIED
