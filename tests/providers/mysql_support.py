"""What the MySQL/MariaDB adapter tests share: the server's root, a least-privilege admin
made for the module, adapters with either, backend names dropped afterwards, a resource,
and a tenant's login over TCP.

The fixtures are named ``root``, ``admin_config``, ``adapter``, ``root_adapter``,
``names`` and ``resource``; a module imports those it asks for and those they ask for
(``resource`` needs ``adapter`` and ``names``, which need ``admin_config`` and ``root``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pymysql
import pytest

from providers.adapters.base import Credentials, InstanceConfig
from providers.adapters.mysql import MySQLAdapter, quote_identifier
from providers.adapters.mysql_names import escape_wildcards
from providers.adapters.naming import new_backend_name, new_password
from tests.support.naming import issued_names

HOST = os.environ.get("RM_TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("RM_TEST_MYSQL_PORT", "3306"))
ROOT_USER = os.environ.get("RM_TEST_MYSQL_USER", "root")
ROOT_PASSWORD = os.environ.get("RM_TEST_MYSQL_PASSWORD", "")

ACCESS_DENIED_USER = 1045
#: MariaDB's answer for an unknown account when it mimics an auth plugin the client lacks.
ACCESS_DENIED_NO_ACCOUNT = 1698
ACCESS_DENIED_DB = 1044
NEEDS_PRIVILEGE = 1227
TABLE_ACCESS_DENIED = 1142


def _root_connection() -> pymysql.connections.Connection:
    return pymysql.connect(host=HOST, port=PORT, user=ROOT_USER, password=ROOT_PASSWORD,
                           autocommit=True, connect_timeout=3)


@pytest.fixture(name="root", scope="module")
def mysql_root() -> Iterator[pymysql.cursors.Cursor]:
    try:
        conn = _root_connection()
    except pymysql.OperationalError as exc:
        pytest.skip(f"no MySQL/MariaDB admin at {HOST}:{PORT}: {exc}")
    with conn.cursor() as cur:
        yield cur
    conn.close()


@pytest.fixture(name="admin_config", scope="module")
def mysql_admin_config(root: pymysql.cursors.Cursor) -> Iterator[InstanceConfig]:
    """A least-privilege admin with exactly the grants documented in providers/adapters/mysql.py."""
    name, password = new_backend_name("rm_admin_"), new_password()
    root.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
    try:
        root.execute("GRANT CREATE USER ON *.* TO %s@'%%'", (name,))
        root.execute(r"GRANT ALL PRIVILEGES ON `rm\_%%`.* TO %s@'%%' WITH GRANT OPTION", (name,))
        root.execute("GRANT SELECT ON mysql.user TO %s@'%%'", (name,))
        root.execute("GRANT SELECT ON mysql.db TO %s@'%%'", (name,))
        root.execute("GRANT SET USER ON *.* TO %s@'%%'", (name,))
        root.execute("GRANT SELECT ON mysql.proc TO %s@'%%'", (name,))
        yield InstanceConfig(host=HOST, port=PORT, username=name, password=password,
                             options={"user_host": "%"})
    finally:
        root.execute("DROP USER IF EXISTS %s@'%%'", (name,))


@pytest.fixture(name="adapter")
def mysql_adapter(admin_config: InstanceConfig) -> MySQLAdapter:
    return MySQLAdapter(admin_config)


@pytest.fixture(name="root_adapter")
def mysql_root_adapter(root: pymysql.cursors.Cursor) -> MySQLAdapter:
    return MySQLAdapter(InstanceConfig(host=HOST, port=PORT, username=ROOT_USER,
                                       password=ROOT_PASSWORD))


@pytest.fixture(name="names")
def mysql_names(root: pymysql.cursors.Cursor) -> Iterator[Callable[[], str]]:
    """Hands out backend names; drops whatever database and accounts of that name (the
    resource's and its logins', ``<name>_…``) are left."""

    def remove(name: str) -> None:
        root.execute("SELECT User FROM mysql.user WHERE Host = '%%' AND (User = %s OR User "
                     "LIKE %s)", (name, escape_wildcards(name) + r"\_%"))
        for (login,) in root.fetchall():  # the resource's own and its other logins
            root.execute("DROP USER IF EXISTS %s@'%%'", (login,))
        root.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)}")

    with issued_names(remove) as issue:
        yield issue


@pytest.fixture(name="resource")
def mysql_resource(adapter: MySQLAdapter, names: Callable[[], str]) -> Credentials:
    return adapter.create(names(), new_password(), {})


def connect(creds: Credentials, password: str | None = None, **kwargs):
    """Log in as the tenant through TCP (127.0.0.1), as a tenant's client would."""
    return pymysql.connect(host=HOST, port=PORT, user=creds.username,
                           password=creds.password if password is None else password,
                           autocommit=True, connect_timeout=3, **kwargs)
