"""The MySQL adapter keeps its admin connection between operations, on the real server:
the next operation reuses it, one killed meanwhile is replaced without a failure, one that
ended in an error is not kept, and each instance (account, password) has its own."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from providers.adapters import idle_connections
from providers.adapters.base import ProviderError
from providers.adapters.mysql import MySQLAdapter
from tests.providers.mysql_support import (  # noqa: F401 (fixtures)
    mysql_adapter,
    mysql_admin_config,
    mysql_root,
)


def session_id(adapter: MySQLAdapter) -> int:
    with adapter._admin("reading the session id") as cur:
        cur.execute("SELECT CONNECTION_ID()")
        return cur.fetchone()[0]


def test_the_next_operation_reuses_the_admin_connection(adapter):
    first = session_id(adapter)
    assert session_id(adapter) == first
    assert session_id(MySQLAdapter(adapter.config)) == first  # any adapter of the instance


def test_a_connection_killed_meanwhile_is_replaced_without_a_failure(adapter, root):
    first = session_id(adapter)
    root.execute("KILL CONNECTION %s", (first,))

    assert session_id(adapter) != first


def test_a_connection_that_ended_in_an_error_is_not_kept(adapter):
    first = session_id(adapter)
    with pytest.raises(ProviderError), adapter._admin("failing on purpose") as cur:
        cur.execute("SELECT * FROM no_such_schema.no_such_table")

    assert session_id(adapter) != first


def test_another_account_or_password_gets_connections_of_its_own(adapter, root):
    first = session_id(adapter)
    other = MySQLAdapter(replace(adapter.config, password=adapter.config.password + "x"))
    with pytest.raises(ProviderError, match=r"refused|denied"):
        session_id(other)  # not handed the kept connection: its own login fails
    assert session_id(adapter) == first


def test_idle_connections_expire_and_a_forked_child_starts_with_none(monkeypatch):
    closed: list[str] = []
    kept = idle_connections.IdleConnections(lambda conn: True, closed.append)
    kept.give_back("instance", "old")
    monkeypatch.setattr(idle_connections, "MAX_IDLE", -1.0)
    assert kept.take("instance") is None and closed == ["old"]

    monkeypatch.setattr(idle_connections, "MAX_IDLE", 60.0)
    kept.give_back("instance", "parent's")
    child = os.fork()
    if child == 0:  # the child: nothing of the parent's, and nothing closed
        os._exit(0 if kept.take("instance") is None and closed == ["old"] else 1)
    assert os.waitpid(child, 0)[1] == 0
    assert kept.take("instance") == "parent's"
