"""Fixtures for tests that run real worker processes over Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from resourcemanager.outbox import events
from tests.support.workers import REDIS_URL, Worker, publishing_to, show, worker_env


@pytest.fixture
def broker(request) -> Iterator[redis.Redis]:
    """The test process publishes tasks to a private Redis database instead of running them.
    No worker of an earlier test of the module takes them unless this test asks for one."""
    if "worker" not in request.fixturenames:
        request.getfixturevalue("module_worker").stop()
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        with publishing_to(REDIS_URL):
            yield client
    finally:
        client.flushdb()
        client.close()


class ModuleWorker:
    """The one worker process of a test module, started on first use, started anew for a
    test that asks for another pool, and stopped after the module's last test. It outlives
    a test's database rows and queued messages (both are emptied between tests), and keeps
    nothing of theirs: each task reads what it works on from the database."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: Worker | None = None

    def running(self, pool: str, concurrency: int) -> Worker:
        process = self.process
        if process is None or not process.is_running() or (
                (process.pool, process.concurrency) != (pool, concurrency)):
            self.stop()  # two workers would share the queue
            log = self.directory / f"worker-{pool}-{concurrency}.log"
            process = Worker(log, worker_env(REDIS_URL), pool=pool, concurrency=concurrency)
            self.process = process
            process.start()
        return process

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture(scope="module")
def module_worker(tmp_path_factory) -> Iterator[ModuleWorker]:
    shared = ModuleWorker(tmp_path_factory.mktemp("worker"))
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture
def worker(request, transactional_db, broker, module_worker) -> Iterator[Worker]:
    """A running worker on this test's database and broker, shared with the module's next
    tests (its output since this test's start shown on failure). Solo unless the test
    passes ``(pool, concurrency)`` by indirect parametrization."""
    pool, concurrency = getattr(request, "param", ("solo", 1))
    process = module_worker.running(pool, concurrency)
    process.begin_output()
    failures_before = request.session.testsfailed
    try:
        yield process
    finally:
        if request.session.testsfailed > failures_before:
            show("celery worker output", process.output(), request.config)
            module_worker.stop()  # the next test starts from a fresh one


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
