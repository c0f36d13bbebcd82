"""Backend calls are bounded: a statement the server holds up fails after
``RM_PROVIDER_READ_TIMEOUT`` seconds, as a transient failure, instead of hanging the run."""

from __future__ import annotations

import threading
import time

import pytest

from providers.adapters.base import ProviderError
from providers.adapters.naming import new_backend_name
from tests.conftest import pg_admin_connect

#: Without a read timeout the statement would wait for ever: the blocker gives up then.
GIVE_UP_AFTER = 15


def end_session(pid: int) -> None:
    with pg_admin_connect() as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_statement_held_up_by_the_server_fails_after_the_read_timeout(pg_provider, settings):
    settings.RM_PROVIDER_READ_TIMEOUT = 1
    adapter, name = pg_provider.adapter(), new_backend_name()
    with pg_admin_connect() as blocker:
        blocker.autocommit = False
        blocker.execute(f"CREATE ROLE {name}")  # uncommitted: CREATE ROLE elsewhere waits
        guard = threading.Timer(GIVE_UP_AFTER, end_session, (blocker.info.backend_pid,))
        guard.start()
        started = time.monotonic()
        try:
            with pytest.raises(ProviderError) as raised:
                adapter.create(name, "blocked-" + "p" * 24, {})
        finally:
            guard.cancel()
            adapter.delete(name)
        elapsed = time.monotonic() - started
        blocker.rollback()

    assert elapsed < 10
    assert raised.value.transient
    assert "statement timeout" in raised.value.message
