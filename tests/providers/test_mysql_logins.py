"""Logins of their own to a MySQL/MariaDB resource, per access level, on the real server.

The least-privilege admin adds and removes them; ending open sessions takes the
``CONNECTION ADMIN`` the documentation asks for, which the root adapter has.
"""

from __future__ import annotations

import time

import pymysql
import pytest

from providers.adapters.base import Access, Credentials, Login, ProviderError
from providers.adapters.naming import new_login_name, new_password
from tests.providers.mysql_support import (  # noqa: F401 (fixtures)
    TABLE_ACCESS_DENIED,
    connect,
    mysql_adapter,
    mysql_admin_config,
    mysql_names,
    mysql_resource,
    mysql_root,
    mysql_root_adapter,
)


def _add(adapter, owner: Credentials, access: Access) -> Credentials:
    login = Login(new_login_name(owner.database), new_password(), access)
    return adapter.add_login(owner.database, login)


def _in(credentials: Credentials) -> pymysql.connections.Connection:
    return connect(credentials, database=credentials.database)


def _refused_code(conn: pymysql.connections.Connection, statement: str) -> int:
    with pytest.raises(pymysql.MySQLError) as refused, conn.cursor() as cur:
        cur.execute(statement)
    return refused.value.args[0]


def test_read_only_and_read_write_logins_do_what_their_level_allows(adapter, resource):
    reader = _add(adapter, resource, Access.READ_ONLY)
    writer = _add(adapter, resource, Access.READ_WRITE)
    with _in(resource) as owner, owner.cursor() as cur:
        cur.execute("CREATE TABLE later (id int AUTO_INCREMENT PRIMARY KEY, note text)")
    with _in(writer) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO later (note) VALUES ('written')")
        cur.execute("UPDATE later SET note = 'changed'")
        assert _refused_code(conn, "CREATE TABLE mine (a int)") == TABLE_ACCESS_DENIED
        assert _refused_code(conn, "DROP TABLE later") == TABLE_ACCESS_DENIED
    with _in(reader) as conn, conn.cursor() as cur:
        cur.execute("SELECT note FROM later")
        assert cur.fetchall() == (("changed",),)
        assert _refused_code(conn, "INSERT INTO later (note) VALUES ('x')") == TABLE_ACCESS_DENIED
        assert _refused_code(conn, "DELETE FROM later") == TABLE_ACCESS_DENIED


def test_an_owner_login_changes_the_schema(adapter, resource):
    builder = _add(adapter, resource, Access.OWNER)
    with _in(builder) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE built (a int)")
        cur.execute("DROP TABLE built")


def test_removing_a_login_ends_its_session_and_its_password(root_adapter, adapter, resource):
    reader = _add(adapter, resource, Access.READ_ONLY)
    session = _in(reader)
    started = time.monotonic()
    root_adapter.remove_login(resource.database, reader.username)
    with pytest.raises(pymysql.MySQLError), session.cursor() as cur:
        cur.execute("SELECT 1")
    assert time.monotonic() - started < 5
    with pytest.raises(pymysql.OperationalError):
        _in(reader)
    adapter.remove_login(resource.database, reader.username)  # gone already: nothing to do


def test_deleting_the_resource_drops_its_logins(adapter, root, resource):
    logins = [_add(adapter, resource, access).username for access in Access]
    adapter.delete(resource.database)
    root.execute("SELECT count(*) FROM mysql.user WHERE User IN %s", (logins,))
    assert root.fetchone()[0] == 0


def test_logins_not_named_after_the_resource_are_refused_before_any_sql(adapter):
    with pytest.raises(ProviderError, match="refusing login identifier"):
        adapter.add_login("rm_k7x2q9f3m1ab", Login("root", "pw", Access.OWNER))
