"""The PostgreSQL adapter keeps its admin connection between operations, on the scram
cluster: the next operation reuses it, one ended meanwhile is replaced without a failure,
one that ended in an error is not kept, and each instance (account, password) has its
own."""

from __future__ import annotations

from dataclasses import replace

import pytest
from psycopg import sql

from providers.adapters.base import ProviderError
from providers.adapters.postgresql import PostgreSQLAdapter
from tests.providers.postgresql_support import (  # noqa: F401 (fixtures)
    pg_adapter,
    pg_cluster,
    pg_superuser,
)


def backend_pid(adapter: PostgreSQLAdapter) -> int:
    with adapter._admin("reading the session's process id") as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def test_the_next_operation_reuses_the_admin_connection(adapter):
    first = backend_pid(adapter)
    assert backend_pid(adapter) == first
    assert backend_pid(PostgreSQLAdapter(adapter.config)) == first  # any adapter of it


def test_a_connection_ended_meanwhile_is_replaced_without_a_failure(adapter, su):
    first = backend_pid(adapter)
    su.execute("SELECT pg_terminate_backend(%s)", (first,))

    assert backend_pid(adapter) != first


def test_a_connection_that_ended_in_an_error_is_not_kept(adapter):
    first = backend_pid(adapter)
    with pytest.raises(ProviderError, match="failing on purpose failed"), \
            adapter._admin("failing on purpose") as cur:
        cur.execute("SELECT * FROM no_such_table")

    assert backend_pid(adapter) != first


def test_a_connection_left_in_a_transaction_is_not_reused(adapter):
    with adapter._admin("leaving a transaction open") as cur:
        first = cur.execute("SELECT pg_backend_pid()").fetchone()[0]
        cur.connection.autocommit = False
        cur.execute("SELECT 1")

    assert backend_pid(adapter) != first


def test_an_admin_dropped_and_made_again_gets_a_new_connection(adapter, su):
    role = sql.Identifier("rm_kept_admin")
    make = sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD 'kept-admin-pw'").format(role)
    su.execute(make)
    again = PostgreSQLAdapter(replace(adapter.config, username="rm_kept_admin",
                                      password="kept-admin-pw"))
    try:
        first = backend_pid(again)
        su.execute(sql.SQL("DROP ROLE {}").format(role))  # its session goes on, refused all
        su.execute(make)

        assert backend_pid(again) != first
        again.ping()
    finally:
        su.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE usename = 'rm_kept_admin'")
        su.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


def test_another_account_or_password_gets_connections_of_its_own(adapter):
    first = backend_pid(adapter)
    other = PostgreSQLAdapter(replace(adapter.config, password=adapter.config.password + "x"))
    with pytest.raises(ProviderError, match="password authentication failed"):
        backend_pid(other)  # not handed the kept connection: its own login fails
    assert backend_pid(adapter) == first


def test_the_admin_connection_gives_up_on_a_silent_server(adapter):
    with adapter._admin("reading the connection's options") as cur:
        options = cur.connection.info.get_parameters()
    assert options["tcp_user_timeout"] == str(adapter.config.connect_timeout * 1000)
    assert options["keepalives"] == "1"
