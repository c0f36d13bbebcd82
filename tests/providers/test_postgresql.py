"""PostgreSQLAdapter against the session's scram-sha-256 cluster.

The cluster's instance admin is ``rm_admin`` (``CREATEDB CREATEROLE``, not superuser), to
prove that least privilege suffices; its superuser ``postgres`` covers the superuser path.
Names carry the session's prefix: what a test leaves is reported.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from psycopg import sql

from providers.adapters.base import Credentials, InstanceConfig, ProviderError
from providers.adapters.naming import new_backend_name, new_password
from providers.adapters.postgresql import PostgreSQLAdapter
from tests.providers.postgresql_support import (  # noqa: F401 (fixtures)
    connect,
    one,
    pg_adapter,
    pg_cluster,
    pg_names,
    pg_su_adapter,
    pg_superuser,
)
from tests.support.pgcluster import ScramCluster, free_port


def exists(su: psycopg.Connection, name: str) -> tuple[int, int]:
    return (one(su, "SELECT count(*) FROM pg_database WHERE datname = %s", name),
            one(su, "SELECT count(*) FROM pg_roles WHERE rolname = %s", name))


def admin_memberships(su: psycopg.Connection, cluster: ScramCluster) -> int:
    """Roles the least-privilege admin belongs to, besides ``pg_read_all_stats`` (granted to
    measure sizes); the adapter must not leave any behind."""
    return one(su, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
                   " JOIN pg_roles g ON g.oid = m.roleid"
                   " WHERE r.rolname = %s AND g.rolname <> 'pg_read_all_stats'",
               cluster.admin_user)


def use_table(conn: psycopg.Connection) -> list[tuple]:
    conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
    conn.execute("INSERT INTO notes VALUES (1, 'hello'), (2, 'world')")
    return conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()


# -- create ------------------------------------------------------------------------------


def test_create_issues_a_working_least_privilege_login(adapter, cluster, su, names):
    name, password = names(), new_password()
    adapter.ping()
    creds = adapter.create(name, password, {})

    assert (creds.username, creds.database, creds.password) == (name, name, password)
    assert (creds.host, creds.port) == (cluster.host, cluster.port)
    assert creds.uri == f"postgresql://{name}:{password}@{cluster.host}:{cluster.port}/{name}"
    with psycopg.connect(creds.uri, connect_timeout=5, autocommit=True) as conn:
        assert use_table(conn) == [(1, "hello"), (2, "world")]
        assert one(conn, "SELECT current_user") == name

    row = su.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolcanlogin "
                     "FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    assert row == (False, False, False, True, True)
    assert one(su, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
               name) == name
    assert one(su, "SELECT rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid "
                   "WHERE rolname = %s", name) is True
    assert admin_memberships(su, cluster) == 0
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(cluster, creds, password="wrong-" + password)


def test_credentials_uri_quotes_and_public_address():
    adapter = PostgreSQLAdapter(InstanceConfig(
        host="10.0.0.5", port=5432, username="a", password="b",
        options={"public_host": "db.example.org", "public_port": 6432}))
    creds = adapter.credentials("rm_abc", "p@ss:w/rd%")
    parts = urlsplit(creds.uri)
    assert (parts.scheme, parts.hostname, parts.port) == ("postgresql", "db.example.org", 6432)
    assert (unquote(parts.username), unquote(parts.password)) == ("rm_abc", "p@ss:w/rd%")
    assert parts.path == "/rm_abc"
    v6 = PostgreSQLAdapter(InstanceConfig(host="::1", port=5432, username="a", password="b"))
    assert "@[::1]:5432/" in v6.credentials("rm_abc", "x").uri


def test_tenants_are_isolated_from_each_other_and_the_server(adapter, cluster, su, names):
    a = adapter.create(names(), new_password(), {})
    b = adapter.create(names(), new_password(), {})
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect(cluster, a, dbname=b.database)
    with connect(cluster, a) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE DATABASE rm_stolen")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE rm_stolen LOGIN")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(b.username),
                                                         sql.Identifier(a.username)))
    # The instance admin has no standing access to tenant data either.
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(host=cluster.host, port=cluster.port, user=cluster.admin_user,
                        password=cluster.admin_password, dbname=a.database, connect_timeout=5)


def test_public_connect_warning_for_postgres_database(adapter, cluster, su, names):
    creds = adapter.create(names(), new_password(), {})
    assert "postgres" in adapter.public_connect_warnings()
    assert creds.database not in adapter.public_connect_warnings()
    connect(cluster, creds, dbname="postgres").close()  # fresh cluster: PUBLIC may connect

    # The operator closes it, keeping access for the instance admin.
    su.execute(sql.SQL("GRANT CONNECT ON DATABASE postgres TO {}")
               .format(sql.Identifier(cluster.admin_user)))
    su.execute("REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")
    try:
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            connect(cluster, creds, dbname="postgres")
        assert "postgres" not in adapter.public_connect_warnings()
    finally:
        su.execute("GRANT CONNECT ON DATABASE postgres TO PUBLIC")


def test_create_twice_resets_password_without_duplicates(adapter, cluster, su, names):
    name, first, second = names(), new_password(), new_password()
    adapter.create(name, first, {})
    with connect(cluster, adapter.credentials(name, first)) as conn:
        conn.execute("CREATE TABLE kept (x int)")
    creds = adapter.create(name, second, {})

    assert exists(su, name) == (1, 1)
    with connect(cluster, creds) as conn:
        assert one(conn, "SELECT count(*) FROM kept") == 0  # same database, data kept
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(cluster, creds, password=first)


def test_create_completes_after_a_crash_between_steps(adapter, cluster, su, names):
    name = names()
    su.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))  # step 1 only
    creds = adapter.create(name, new_password(), {})
    with connect(cluster, creds) as conn:
        assert one(conn, "SELECT current_database()") == name
    assert admin_memberships(su, cluster) == 0


# -- delete ------------------------------------------------------------------------------


def test_delete_drops_database_and_role_even_with_open_sessions(adapter, cluster, su, names):
    name = names()
    creds = adapter.create(name, new_password(), {})
    session = connect(cluster, creds)
    try:
        adapter.delete(name)
    finally:
        session.close()
    assert exists(su, name) == (0, 0)
    assert admin_memberships(su, cluster) == 0
    adapter.delete(name)  # second call is harmless
    adapter.delete(names())  # never created: harmless too
    assert exists(su, name) == (0, 0)


def test_delete_refused_by_server_is_a_readable_permanent_error(adapter, su, names):
    name = names()
    su.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))  # owned by postgres
    with pytest.raises(ProviderError) as info:
        adapter.delete(name)
    assert info.value.message.endswith(f"deleting {name} failed: must be owner of database "
                                       f"{name}")
    assert not info.value.transient


# -- check -------------------------------------------------------------------------------


def test_check_healthy(adapter, names):
    creds = adapter.create(names(), new_password(), {})
    result = adapter.check(creds, repair=False)
    assert (result.ok, result.repaired) == (True, ())


def test_check_repairs_a_changed_password(adapter, cluster, su, names):
    creds = adapter.create(names(), new_password(), {})
    su.execute(sql.SQL("ALTER ROLE {} PASSWORD 'other'").format(sql.Identifier(creds.username)))
    with pytest.raises(psycopg.OperationalError):
        connect(cluster, creds)

    result = adapter.check(creds, repair=False)
    assert not result.ok
    assert result.message == f"login {creds.username} rejects its stored password"
    result = adapter.check(creds, repair=True)
    assert (result.ok, result.repaired) == (True, ("password reset",))
    connect(cluster, creds).close()
    assert adapter.check(creds, repair=False).ok
    assert admin_memberships(su, cluster) == 0


def test_check_recreates_a_dropped_role_and_returns_ownership(adapter, cluster, su, names):
    creds = adapter.create(names(), new_password(), {})
    ident = sql.Identifier(creds.username)
    su.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}")
               .format(ident, sql.Identifier(cluster.admin_user)))
    su.execute(sql.SQL("DROP ROLE {}").format(ident))

    result = adapter.check(creds, repair=False)
    assert (result.ok, result.message) == (False, f"login {creds.username} does not exist")
    result = adapter.check(creds, repair=True)
    assert result.ok, result.message
    assert result.repaired == ("login re-created", "owner restored")
    assert one(su, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
               creds.database) == creds.username
    with connect(cluster, creds) as conn:
        assert use_table(conn)[0] == (1, "hello")
    assert creds.database not in adapter.public_connect_warnings()
    assert admin_memberships(su, cluster) == 0


def test_check_ownership_held_by_superuser(adapter, su_adapter, cluster, su, names):
    creds = adapter.create(names(), new_password(), {})
    ident = sql.Identifier(creds.username)
    su.execute(sql.SQL("ALTER DATABASE {} OWNER TO postgres").format(ident))
    su.execute(sql.SQL("DROP ROLE {}").format(ident))

    # Least privilege cannot take a database back from a superuser: a readable refusal.
    result = adapter.check(creds, repair=True)
    assert not result.ok
    assert result.repaired == ("login re-created",)
    assert "owned by postgres" in result.message
    assert admin_memberships(su, cluster) == 0
    # A superuser admin can.
    result = su_adapter.check(creds, repair=True)
    assert (result.ok, result.repaired) == (True, ("owner restored",))
    with connect(cluster, creds) as conn:
        assert use_table(conn)[1] == (2, "world")


def test_check_restores_connect_privileges_and_login(adapter, cluster, su, names):
    creds = adapter.create(names(), new_password(), {})
    ident = sql.Identifier(creds.username)
    su.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO PUBLIC").format(ident))
    su.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(ident))
    assert creds.database in adapter.public_connect_warnings()

    assert adapter.check(creds, repair=False).message == (
        f"login {creds.username} is not allowed to log in")
    result = adapter.check(creds, repair=True)
    assert (result.ok, result.repaired) == (True, ("login enabled",
                                                   "connect privileges restored"))
    assert creds.database not in adapter.public_connect_warnings()
    connect(cluster, creds).close()


def test_check_dropped_database_cannot_be_repaired(adapter, su, names):
    creds = adapter.create(names(), new_password(), {})
    su.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(creds.database)))
    for repair in (False, True):
        result = adapter.check(creds, repair=repair)
        assert not result.ok
        assert result.message == (f"database {creds.database} no longer exists; its data is "
                                  "lost and cannot be restored by a repair")


# -- errors ------------------------------------------------------------------------------


def test_unreachable_server_is_transient_and_secret_free():
    port, secret = free_port(), new_password()
    adapter = PostgreSQLAdapter(InstanceConfig(host="127.0.0.1", port=port, username="rm_admin",
                                               password=secret, connect_timeout=2))
    for call in (adapter.ping, lambda: adapter.create(new_backend_name(), secret + "x", {}),
                 lambda: adapter.delete(new_backend_name())):
        with pytest.raises(ProviderError) as info:
            call()
        assert info.value.transient
        assert info.value.message == f"cannot reach PostgreSQL at 127.0.0.1:{port}: " \
                                     "connection refused"
        assert secret not in str(info.value)


def test_wrong_admin_password_is_permanent_and_secret_free(cluster):
    secret = new_password()
    adapter = PostgreSQLAdapter(InstanceConfig(host=cluster.host, port=cluster.port,
                                               username=cluster.admin_user, password=secret))
    with pytest.raises(ProviderError) as info:
        adapter.ping()
    assert not info.value.transient
    assert info.value.message == (
        f"PostgreSQL at {cluster.host}:{cluster.port} refused the admin login: "
        f'password authentication failed for user "{cluster.admin_user}"')
    assert secret not in info.value.message


@pytest.mark.parametrize("bad", ['rm_x"; DROP ROLE postgres; --', "rm_a'b", "rm_a;b", "RM_ABC"])
def test_invalid_backend_names_are_refused_before_any_sql(bad):
    # Nothing listens on this port: reaching the server would say "cannot reach".
    adapter = PostgreSQLAdapter(InstanceConfig(host="127.0.0.1", port=free_port(),
                                               username="rm_admin", password="x"))
    creds = Credentials(bad, "pw", host="h", port=1, database=bad, uri="u")
    for call in (lambda: adapter.create(bad, "pw", {}), lambda: adapter.delete(bad),
                 lambda: adapter.check(creds, repair=True)):
        with pytest.raises(ProviderError, match=r"^refusing invalid backend identifier"):
            call()


# -- a superuser admin --------------------------------------------------------------------


def test_superuser_admin_creates_checks_and_deletes(su_adapter, cluster, su, names):
    name = names()
    creds = su_adapter.create(name, new_password(), {})
    with connect(cluster, creds) as conn:
        assert use_table(conn) == [(1, "hello"), (2, "world")]
        assert one(conn, "SELECT current_user") == name
    assert su_adapter.check(creds, repair=False).ok
    su_adapter.delete(name)
    assert exists(su, name) == (0, 0)
