"""Fixtures for tests that run real worker processes over Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.workers import REDIS_URL, Worker, publishing_to, show, worker_env


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The test process publishes tasks to a private Redis database instead of running them."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        with publishing_to(REDIS_URL):
            yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def worker(request, transactional_db, broker, tmp_path) -> Iterator[Worker]:
    """A running worker on this test's database and broker; stopped (and shown on failure).
    Solo unless the test passes ``(pool, concurrency)`` by indirect parametrization."""
    pool, concurrency = getattr(request, "param", ("solo", 1))
    process = Worker(
        tmp_path / "worker.log", worker_env(REDIS_URL), pool=pool, concurrency=concurrency
    )
    failures_before = request.session.testsfailed
    try:
        process.start()
        yield process
    finally:
        process.stop()
        if request.session.testsfailed > failures_before:
            show("celery worker output", process.output(), request.config)
