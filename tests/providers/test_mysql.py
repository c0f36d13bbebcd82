"""MySQLAdapter against the local MariaDB (root@127.0.0.1 without password).

The main tests run with a least-privilege admin account created here, granted exactly what
the module docstring of ``providers.adapters.mysql`` documents, to prove those grants suffice.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pymysql
import pytest

from providers.adapters import mysql as mysql_module
from providers.adapters.base import Credentials, InstanceConfig, ProviderError
from providers.adapters.mysql import MySQLAdapter, grant_target, quote_identifier
from providers.adapters.naming import new_backend_name, new_password
from tests.providers.mysql_support import (  # noqa: F401 (fixtures)
    ACCESS_DENIED_DB,
    ACCESS_DENIED_NO_ACCOUNT,
    ACCESS_DENIED_USER,
    HOST,
    NEEDS_PRIVILEGE,
    PORT,
    ROOT_PASSWORD,
    ROOT_USER,
    TABLE_ACCESS_DENIED,
    connect,
    mysql_adapter,
    mysql_admin_config,
    mysql_names,
    mysql_resource,
    mysql_root,
    mysql_root_adapter,
)


def error_code(excinfo: pytest.ExceptionInfo) -> int:
    return excinfo.value.args[0]


def user_count(root: pymysql.cursors.Cursor, name: str) -> int:
    root.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (name,))
    return root.fetchone()[0]


def database_count(root: pymysql.cursors.Cursor, name: str) -> int:
    root.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                 (name,))
    return root.fetchone()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- create -----------------------------------------------------------------------------


def test_adapter_metadata() -> None:
    assert (MySQLAdapter.key, MySQLAdapter.resource_type, MySQLAdapter.default_port) == (
        "mysql", "sql", 3306)
    assert "user_host" in MySQLAdapter.instance_options
    assert {"public_host", "public_port"} <= set(MySQLAdapter.common_options)


def test_create_issues_working_credentials(resource: Credentials) -> None:
    assert resource.username == resource.database
    assert (resource.host, resource.port) == (HOST, PORT)
    assert resource.uri == (f"mysql://{resource.username}:{resource.password}"
                            f"@{HOST}:{PORT}/{resource.database}")
    conn = connect(resource, database=resource.database)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)")
        cur.execute("INSERT INTO notes VALUES (1, 'hello')")
        cur.execute("SELECT body FROM notes WHERE id = 1")
        assert cur.fetchone() == ("hello",)


def test_uri_uses_public_host_and_quotes_secrets(admin_config: InstanceConfig) -> None:
    config = InstanceConfig(host=HOST, port=PORT, username="x", password="y",
                            options={"public_host": "db.example.org", "public_port": "13306"})
    creds = MySQLAdapter(config).credentials("rm_abc", "p@ss:w/rd")
    assert (creds.host, creds.port) == ("db.example.org", 13306)
    assert creds.uri == "mysql://rm_abc:p%40ss%3Aw%2Frd@db.example.org:13306/rm_abc"


def test_credential_is_confined_to_its_database(
    adapter: MySQLAdapter, names: Callable[[], str], root: pymysql.cursors.Cursor
) -> None:
    a = adapter.create(names(), new_password(), {})
    b = adapter.create(names(), new_password(), {})

    with pytest.raises(pymysql.OperationalError) as excinfo:
        connect(a, database=b.database)
    assert error_code(excinfo) == ACCESS_DENIED_DB

    conn = connect(a)
    with conn, conn.cursor() as cur:
        with pytest.raises(pymysql.MySQLError) as excinfo:
            cur.execute(f"USE {quote_identifier(b.database)}")
        assert error_code(excinfo) == ACCESS_DENIED_DB
        with pytest.raises(pymysql.MySQLError) as excinfo:
            cur.execute(f"SHOW TABLES FROM {quote_identifier(b.database)}")
        assert error_code(excinfo) == ACCESS_DENIED_DB
        # Another name, and one GRANT would match if ``_`` were left as a wildcard.
        lookalike = a.database.replace("_", "x", 1)
        for other in (names(), lookalike):
            with pytest.raises(pymysql.MySQLError) as excinfo:
                cur.execute(f"CREATE DATABASE {quote_identifier(other)}")
            assert error_code(excinfo) == ACCESS_DENIED_DB
        root.execute(f"DROP DATABASE IF EXISTS {quote_identifier(lookalike)}")
        with pytest.raises(pymysql.MySQLError) as excinfo:
            cur.execute("CREATE USER 'intruder'@'%' IDENTIFIED BY 'x'")
        assert error_code(excinfo) == NEEDS_PRIVILEGE
        with pytest.raises(pymysql.MySQLError) as excinfo:
            cur.execute("SELECT User, Host FROM mysql.user")
        assert error_code(excinfo) == TABLE_ACCESS_DENIED
        cur.execute("SHOW DATABASES")
        assert {row[0] for row in cur.fetchall()} == {"information_schema", a.database}


def test_create_twice_is_idempotent_and_resets_password(
    adapter: MySQLAdapter, names: Callable[[], str], root: pymysql.cursors.Cursor
) -> None:
    name, first, second = names(), new_password(), new_password()
    creds = adapter.create(name, first, {})
    conn = connect(creds, database=name)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (id INT)")
        cur.execute("INSERT INTO kept VALUES (7)")

    again = adapter.create(name, second, {})

    assert again.password == second
    assert user_count(root, name) == 1
    assert database_count(root, name) == 1
    with pytest.raises(pymysql.OperationalError) as excinfo:
        connect(creds, database=name)  # the first password
    assert error_code(excinfo) == ACCESS_DENIED_USER
    conn = connect(again, database=name)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM kept")
        assert cur.fetchall() == ((7,),)


# -- delete -----------------------------------------------------------------------------


def test_delete_removes_database_and_login(
    adapter: MySQLAdapter, resource: Credentials, root: pymysql.cursors.Cursor
) -> None:
    name = resource.database
    assert (user_count(root, name), database_count(root, name)) == (1, 1)

    adapter.delete(name)

    assert (user_count(root, name), database_count(root, name)) == (0, 0)
    with pytest.raises(pymysql.OperationalError) as excinfo:
        connect(resource)
    assert error_code(excinfo) in (ACCESS_DENIED_USER, ACCESS_DENIED_NO_ACCOUNT)
    adapter.delete(name)  # a second delete is harmless
    assert (user_count(root, name), database_count(root, name)) == (0, 0)


def test_delete_ends_open_sessions_when_permitted(
    root_adapter: MySQLAdapter, names: Callable[[], str]
) -> None:
    creds = root_adapter.create(names(), new_password(), {})
    conn = connect(creds, database=creds.database)
    try:
        root_adapter.delete(creds.database)
        with pytest.raises(pymysql.MySQLError), conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        conn.close()


# -- check ------------------------------------------------------------------------------


def test_check_healthy(adapter: MySQLAdapter, resource: Credentials) -> None:
    for repair in (False, True):
        result = adapter.check(resource, repair=repair)
        assert result.ok, result.message
        assert result.repaired == ()


def test_check_recreates_dropped_login(
    adapter: MySQLAdapter, resource: Credentials, root: pymysql.cursors.Cursor
) -> None:
    root.execute("DROP USER %s@'%%'", (resource.username,))

    result = adapter.check(resource, repair=False)
    assert not result.ok
    assert "does not exist" in result.message
    assert user_count(root, resource.username) == 0

    result = adapter.check(resource, repair=True)
    assert result.ok, result.message
    assert "login re-created" in result.repaired
    assert "privileges re-granted" in result.repaired
    conn = connect(resource, database=resource.database)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT)")
    assert adapter.check(resource, repair=False).ok


def test_check_resets_changed_password(
    adapter: MySQLAdapter, resource: Credentials, root: pymysql.cursors.Cursor
) -> None:
    root.execute("ALTER USER %s@'%%' IDENTIFIED BY 'other'", (resource.username,))
    with pytest.raises(pymysql.OperationalError):
        connect(resource)

    result = adapter.check(resource, repair=False)
    assert not result.ok
    assert "password" in result.message
    assert resource.password not in result.message

    result = adapter.check(resource, repair=True)
    assert result.ok, result.message
    assert result.repaired == ("password reset",)
    connect(resource, database=resource.database).close()
    with pytest.raises(pymysql.OperationalError):
        connect(resource, password="other")


def test_check_regrants_revoked_privileges(
    adapter: MySQLAdapter, resource: Credentials, root: pymysql.cursors.Cursor
) -> None:
    root.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@'%%'", (resource.username,))
    with pytest.raises(pymysql.OperationalError) as excinfo:
        connect(resource, database=resource.database)
    assert error_code(excinfo) == ACCESS_DENIED_DB

    result = adapter.check(resource, repair=False)
    assert not result.ok
    assert "privileges" in result.message

    result = adapter.check(resource, repair=True)
    assert result.ok, result.message
    assert result.repaired == ("privileges re-granted",)
    conn = connect(resource, database=resource.database)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT)")


def test_inventory_with_least_privilege_admin(
    adapter: MySQLAdapter, names: Callable[[], str], root: pymysql.cursors.Cursor
) -> None:
    healthy, revoked = (adapter.create(names(), new_password(), {}).username for _ in range(2))
    root.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@'%%'", (revoked,))

    found = adapter.inventory("rm_")  # the documented grants cover the default prefix

    assert {healthy, revoked} <= found.databases & found.logins
    assert healthy in found.healthy and revoked not in found.healthy


def test_check_reports_dropped_database(
    adapter: MySQLAdapter, resource: Credentials, root: pymysql.cursors.Cursor
) -> None:
    root.execute(f"DROP DATABASE {quote_identifier(resource.database)}")
    for repair in (False, True):
        result = adapter.check(resource, repair=repair)
        assert not result.ok
        assert f"database {resource.database} no longer exists" in result.message
    assert database_count(root, resource.database) == 0


# -- failures ---------------------------------------------------------------------------


def test_unreachable_server_is_transient_and_secret_free() -> None:
    port, secret = free_port(), "admin-secret-" + new_password()
    adapter = MySQLAdapter(InstanceConfig(host="127.0.0.1", port=port, username="root",
                                          password=secret, connect_timeout=2))
    tenant_password = new_password()
    calls = [
        adapter.ping,
        lambda: adapter.create(new_backend_name(), tenant_password, {}),
        lambda: adapter.delete(new_backend_name()),
        lambda: adapter.check(adapter.credentials(new_backend_name(), tenant_password),
                              repair=True),
    ]
    for call in calls:
        with pytest.raises(ProviderError) as excinfo:
            call()
        assert excinfo.value.transient
        assert f"127.0.0.1:{port}" in excinfo.value.message
        assert "cannot reach MySQL" in excinfo.value.message
        assert secret not in str(excinfo.value)
        assert tenant_password not in str(excinfo.value)


def test_rejected_admin_login_is_not_transient(admin_config: InstanceConfig) -> None:
    wrong = "wrong-" + new_password()
    config = InstanceConfig(host=HOST, port=PORT, username=admin_config.username,
                            password=wrong)
    with pytest.raises(ProviderError) as excinfo:
        MySQLAdapter(config).ping()
    assert not excinfo.value.transient
    assert "1045" in excinfo.value.message
    assert wrong not in excinfo.value.message


def test_ping(adapter: MySQLAdapter) -> None:
    adapter.ping()


@pytest.mark.parametrize("bad", ["rm_a`b", "rm_a'b", 'rm_a"b', "rm_a;drop database x",
                                 "RM_UPPER", "rm", "rm_a\\b", "rm_a%"])
def test_invalid_backend_name_refused_before_any_sql(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_connection(**kwargs):
        raise AssertionError("connected to the server with an invalid name")

    monkeypatch.setattr(mysql_module.pymysql, "connect", no_connection)
    adapter = MySQLAdapter(InstanceConfig(host=HOST, port=PORT, username="x", password="y"))
    creds = Credentials(bad, "pw", HOST, PORT, bad, "mysql://")
    for call in (lambda: adapter.create(bad, "pw", {}), lambda: adapter.delete(bad),
                 lambda: adapter.check(creds, repair=True)):
        with pytest.raises(ProviderError, match="invalid backend identifier"):
            call()


def test_identifier_quoting() -> None:
    assert quote_identifier("a`b") == "`a``b`"
    assert grant_target("rm_ab_c") == r"`rm\_ab\_c`.*"


def test_ssl_ca_option_enables_verified_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    def fake_connect(**kwargs):
        seen.update(kwargs)
        raise pymysql.OperationalError(2003, "Can't connect to MySQL server on 'h' (stop)")

    monkeypatch.setattr(mysql_module.pymysql, "connect", fake_connect)
    config = InstanceConfig(host="h", port=1, username="x", password="admin-pw",
                            options={"ssl_ca": "/etc/ssl/ca.pem"})
    with pytest.raises(ProviderError, match=r"cannot reach MySQL at h:1: stop"):
        MySQLAdapter(config).ping()
    assert seen["ssl_ca"] == "/etc/ssl/ca.pem"
    assert seen["ssl_verify_cert"] and seen["ssl_verify_identity"]
    assert seen["autocommit"] is True and seen["connect_timeout"] == 5
    assert seen["read_timeout"] == seen["write_timeout"] == 120
