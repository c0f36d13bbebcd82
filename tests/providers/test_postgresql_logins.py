"""Logins of their own to a PostgreSQL resource, per access level, on the scram cluster.

The instance admin is the cluster's non-superuser ``rm_admin``; every tenant connection
goes through password authentication.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from providers.adapters.base import Access, Credentials, Login, ProviderError
from providers.adapters.naming import new_login_name, new_password
from tests.providers.postgresql_support import (  # noqa: F401 (fixtures)
    connect,
    one,
    pg_adapter,
    pg_cluster,
    pg_names,
    pg_superuser,
)


@pytest.fixture
def resource(adapter, names) -> Iterator[Credentials]:
    """A new resource: its owner's credentials. Deleted afterwards, logins and all."""
    owner = adapter.create(names(), new_password(), {})
    yield owner
    adapter.delete(owner.database)


def _owner_session(cluster, owner: Credentials) -> psycopg.Connection:
    return connect(cluster, owner)


def _add(adapter, owner: Credentials, access: Access, **login) -> Credentials:
    login = Login(new_login_name(owner.database), new_password(), access, **login)
    return adapter.add_login(owner.database, login)


def _refused(conn: psycopg.Connection, statement: str) -> str:
    with pytest.raises(psycopg.Error) as refused:
        conn.execute(statement)
    return refused.value.diag.message_primary or ""


def test_a_read_only_login_reads_tables_made_before_and_after_it_and_changes_nothing(
    adapter, cluster, resource
):
    with _owner_session(cluster, resource) as owner:
        owner.execute("CREATE TABLE early (id serial PRIMARY KEY, note text)")
        owner.execute("INSERT INTO early (note) VALUES ('before')")
    reader = _add(adapter, resource, Access.READ_ONLY)
    assert (reader.username, reader.database) != (resource.username, resource.database)
    assert reader.database == resource.database
    with _owner_session(cluster, resource) as owner:
        owner.execute("CREATE SCHEMA reports")
        owner.execute("CREATE TABLE reports.late AS SELECT 'after' AS note")
    with connect(cluster, reader) as conn:
        assert one(conn, "SELECT note FROM early") == "before"
        assert one(conn, "SELECT note FROM reports.late") == "after"
        assert "permission denied" in _refused(conn, "INSERT INTO early (note) VALUES ('x')")
        assert "permission denied" in _refused(conn, "CREATE TABLE mine (a int)")
        assert "must be owner" in _refused(conn, "DROP TABLE early")


def test_a_read_write_login_changes_data_but_not_the_schema_roles_or_databases(
    adapter, cluster, resource
):
    with _owner_session(cluster, resource) as owner:
        owner.execute("CREATE TABLE items (id serial PRIMARY KEY, note text)")
    writer = _add(adapter, resource, Access.READ_WRITE)
    with _owner_session(cluster, resource) as owner:
        owner.execute("CREATE TABLE later (id serial PRIMARY KEY)")
    with connect(cluster, writer) as conn:
        conn.execute("INSERT INTO items (note) VALUES ('a'), ('b')")
        conn.execute("UPDATE items SET note = 'c' WHERE note = 'a'")
        conn.execute("DELETE FROM items WHERE note = 'b'")
        conn.execute("INSERT INTO later DEFAULT VALUES")
        assert one(conn, "SELECT note FROM items") == "c"
        assert "permission denied" in _refused(conn, "CREATE TABLE mine (a int)")
        assert "must be owner" in _refused(conn, "ALTER TABLE items ADD COLUMN x int")
        assert "permission denied" in _refused(conn, "CREATE ROLE intruder")
        assert "permission denied" in _refused(conn, "CREATE DATABASE intruder")


def test_an_owner_login_creates_objects_for_the_owner_and_goes_without_them(
    adapter, cluster, su, resource
):
    builder = _add(adapter, resource, Access.OWNER)
    with connect(cluster, builder) as conn:
        conn.execute("CREATE TABLE built (a int)")
        conn.execute("SET ROLE NONE")  # not kept from leaving objects of its own
        conn.execute("SET ROLE " + psycopg.sql.Identifier(builder.username).as_string(conn))
        conn.execute("CREATE TABLE stray (a int)")
    adapter.remove_login(resource.database, builder.username)
    with _owner_session(cluster, resource) as owner:
        owners = dict(owner.execute("SELECT tablename, tableowner FROM pg_tables "
                                    "WHERE schemaname = 'public'").fetchall())
    assert owners == {"built": resource.username, "stray": resource.username}
    assert one(su, "SELECT count(*) FROM pg_roles WHERE rolname = %s", builder.username) == 0


def test_later_logins_of_a_level_join_its_group_and_reach_what_came_since(
    adapter, cluster, resource
):
    first = _add(adapter, resource, Access.READ_WRITE)
    with _owner_session(cluster, resource) as owner:
        owner.execute("CREATE SCHEMA sales")
        owner.execute("CREATE TABLE sales.orders (id serial PRIMARY KEY, note text)")
    second = _add(adapter, resource, Access.READ_WRITE)
    for writer in (first, second):
        with connect(cluster, writer) as conn:
            conn.execute("INSERT INTO sales.orders (note) VALUES (current_user)")
    with _owner_session(cluster, resource) as owner:
        assert one(owner, "SELECT count(*) FROM sales.orders") == 2


def test_a_group_whose_making_was_cut_short_is_completed_by_the_next_login(
    adapter, cluster, su, resource
):
    with _owner_session(cluster, resource) as owner:
        owner.execute("CREATE TABLE early AS SELECT 'before' AS note")
    group = psycopg.sql.Identifier(f"{resource.database}_ro")
    su.execute(psycopg.sql.SQL("CREATE ROLE {} NOLOGIN").format(group))  # no grants yet
    reader = _add(adapter, resource, Access.READ_ONLY)
    with connect(cluster, reader) as conn:
        assert one(conn, "SELECT note FROM early") == "before"


def test_a_login_past_its_validity_is_refused_by_the_server(adapter, cluster, resource):
    expired = _add(adapter, resource, Access.READ_ONLY,
                   valid_until=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        connect(cluster, expired)
    valid = _add(adapter, resource, Access.READ_ONLY,
                 valid_until=datetime.now(UTC) + timedelta(hours=1))
    with connect(cluster, valid) as conn:
        assert one(conn, "SELECT current_user") == valid.username


def test_removing_a_login_ends_its_open_session_and_repeats_harmlessly(
    adapter, cluster, su, resource
):
    reader = _add(adapter, resource, Access.READ_ONLY)
    session = connect(cluster, reader)
    started = time.monotonic()
    adapter.remove_login(resource.database, reader.username)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    assert time.monotonic() - started < 5
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        connect(cluster, reader)
    adapter.remove_login(resource.database, reader.username)  # gone already: nothing to do


def test_adding_a_login_again_leaves_exactly_the_new_password(adapter, cluster, resource):
    name = new_login_name(resource.database)
    first = adapter.add_login(resource.database, Login(name, new_password(), Access.READ_ONLY))
    second = adapter.add_login(resource.database, Login(name, new_password(), Access.READ_ONLY))
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        connect(cluster, first)
    with connect(cluster, second) as conn:
        assert one(conn, "SELECT current_user") == name


def test_deleting_the_resource_drops_its_logins_and_their_groups(adapter, su, resource):
    for access in Access:
        _add(adapter, resource, access)
    adapter.delete(resource.database)
    left = one(su, "SELECT count(*) FROM pg_roles WHERE starts_with(rolname, %s)",
               resource.database)
    assert left == 0


@pytest.mark.parametrize("login", ["postgres", "rm_other123456_abcdef", "x; DROP ROLE y"])
def test_logins_not_named_after_the_resource_are_refused_before_any_sql(adapter, login):
    backend_name = "rm_k7x2q9f3m1ab"
    with pytest.raises(ProviderError, match="refusing login identifier"):
        adapter.add_login(backend_name, Login(login, "pw", Access.READ_ONLY))
    with pytest.raises(ProviderError, match="refusing login identifier"):
        adapter.remove_login(backend_name, login)


def test_deleting_a_resource_ends_the_open_sessions_of_its_logins(adapter, cluster, names):
    owner = adapter.create(names(), new_password(), {})
    try:
        reader = _add(adapter, owner, Access.READ_ONLY)
        writer = _add(adapter, owner, Access.READ_WRITE)
        sessions = [connect(cluster, reader), connect(cluster, writer), connect(cluster, owner)]
    finally:
        adapter.delete(owner.database)  # as a non-superuser admin, a member of none of them

    for session in sessions:
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        connect(cluster, reader)
