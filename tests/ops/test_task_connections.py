"""A worker keeps its app-database connection between tasks, as the web does between
requests: for ``DATABASE_CONN_MAX_AGE``, checked before reuse (Celery's own rule would
close it around every task)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import connection

from config.celery import close_old_connections
from consumers.tasks import deliver


@pytest.fixture
def connected(transactional_db):
    """The app-database connection, open and outside any transaction, as between tasks."""
    connection.ensure_connection()
    return connection.connection


def test_the_connection_is_kept_between_tasks(connected) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite connections are not kept (no DATABASE_CONN_MAX_AGE)")
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 300  # the default

    close_old_connections(task=deliver)

    assert connection.connection is connected


def test_a_connection_past_its_age_is_closed_before_the_next_task(connected) -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("Django never closes an in-memory SQLite database's connection")
    connection.close_at = time.monotonic() - 1

    close_old_connections(task=deliver)

    assert connection.connection is None


def test_a_task_run_eagerly_leaves_the_caller_s_connection_alone(connected) -> None:
    connection.close_at = time.monotonic() - 1
    deliver.push_request(is_eager=True)
    try:
        close_old_connections(task=deliver)
    finally:
        deliver.pop_request()

    assert connection.connection is connected


def test_celery_closes_it_only_every_many_tasks() -> None:
    """Celery's Django fixup closes connections around each task unless DB_REUSE_MAX is
    set, whatever CONN_MAX_AGE says."""
    assert settings.CELERY_DB_REUSE_MAX >= 1000
