"""Fixtures for tests that run real worker processes over Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from resourcemanager.outbox import events
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


@pytest.fixture
def start_worker(request, transactional_db, tmp_path) -> Iterator[Callable[..., Worker]]:
    """``start_worker(broker_url, **env)``: a worker process; all are stopped at the end."""
    started: list[Worker] = []
    failures_before = request.session.testsfailed

    def start(broker_url: str = REDIS_URL, **env: str) -> Worker:
        log = tmp_path / f"worker{len(started)}.log"
        process = Worker(log, worker_env(broker_url, **env))
        started.append(process)
        process.start()
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()
        if request.session.testsfailed > failures_before:
            for number, process in enumerate(started):
                show(f"worker {number} output", process.output(), request.config)


#: Events handed to the handler below while ``recorded_events`` is in use.
_received_events: list[events.Event] = []


def record_event(event: events.Event) -> None:
    _received_events.append(event)


@pytest.fixture
def recorded_events(settings) -> Iterator[list[events.Event]]:
    """Events handed to the configured handlers in this process (tasks run eagerly)."""
    settings.RM_EVENT_HANDLERS = [f"{__name__}.record_event"]
    events.handlers.cache_clear()
    _received_events.clear()
    yield _received_events
    events.handlers.cache_clear()
