"""A real Celery worker process runs provider operations queued in Redis by the API.

The test process publishes to a Redis database of its own (not eagerly in-process), the
worker is a separate ``celery worker`` process on the same app database (the pytest-django
test database, hence ``transactional_db``), and the outcome is read back from that database.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import kombu.pools
import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from audit.models import AuditEntry
from config.celery import app as celery_app
from resourcemanager.models import Resource
from tests.conftest import pg_admin_connect

pytestmark = pytest.mark.worker

REDIS_URL = os.environ.get("RM_TEST_WORKER_REDIS_URL", "redis://127.0.0.1:6379/13")
QUEUE = "celery"
TEAM_A = "/api/c/team-a/resources"
WORKER_START_TIMEOUT = 30
OPERATION_TIMEOUT = 30


def app_database_url() -> str:
    """``DATABASE_URL`` of the database this test runs on (pytest-django's test database)."""
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("a worker process shares the app database only on PostgreSQL")
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


class Worker:
    """A ``celery worker`` subprocess whose combined output goes to a log file."""

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        celery = Path(sys.executable).with_name("celery")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(celery), "--app", "config", "worker", "--pool", "solo",
                    "--concurrency", "1", "-Q", QUEUE, "--without-gossip",
                    "--without-mingle", "--without-heartbeat", "-l", "info",
                ],
                cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while " ready." not in self.output():
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited at start:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker was not ready in time:\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # warm shutdown: finishes the task at hand
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Freeze the worker (SIGSTOP) so it cannot touch what is queued meanwhile."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The test process publishes tasks to a private Redis database instead of running them."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    saved = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = REDIS_URL
    _drop_connection_pools()
    try:
        yield client
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = saved
        _drop_connection_pools()
        client.flushdb()
        client.close()


def _drop_connection_pools() -> None:
    """Close and forget broker connections made with the previous configuration."""
    kombu.pools.reset()
    celery_app._pool = None
    amqp = celery_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@pytest.fixture
def worker(request, transactional_db, broker, tmp_path) -> Iterator[Worker]:
    """A running worker on this test's database and broker; stopped (and shown on failure)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": app_database_url(),
        "REDIS_URL": REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    process = Worker(tmp_path / "worker.log", env)
    failures_before = request.session.testsfailed
    try:
        process.start()
        yield process
    finally:
        process.stop()
        if request.session.testsfailed > failures_before:
            _show("celery worker output", process.output(), request.config)


def _show(title: str, text: str, config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        sys.__stderr__.write(f"--- {title} ---\n{text}\n")
        return
    reporter.write_sep("-", title)
    reporter.write_line(text)


def wait_for_status(resource_id: str, status: str, worker: Worker) -> Resource:
    deadline = time.monotonic() + OPERATION_TIMEOUT
    while True:
        resource = Resource.objects.get(pk=resource_id)
        if resource.status == status:
            return resource
        if time.monotonic() > deadline:
            raise AssertionError(
                f"resource still {resource.status!r} ({resource.status_message!r}) after "
                f"{OPERATION_TIMEOUT}s, expected {status!r}; worker output:\n{worker.output()}"
            )
        time.sleep(0.2)


def pg_objects(name: str) -> tuple[int, int]:
    with pg_admin_connect() as conn:
        databases = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        roles = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (name,))
        return databases.fetchone()[0], roles.fetchone()[0]


def queued_tasks(broker: redis.Redis) -> list[dict]:
    """Messages waiting in the queue, oldest first (kombu pushes to the list's head)."""
    messages = [json.loads(raw) for raw in reversed(broker.lrange(QUEUE, 0, -1))]
    return [{"task": m["headers"]["task"], "kwargs": _kwargs(m)} for m in messages]


def _kwargs(message: dict) -> dict:
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return kwargs


def test_creation_is_queued_in_redis_not_run_in_the_web_process(
    make_client, pg_provider, broker
):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"
    assert response.json()["credentials"] is None
    [task] = queued_tasks(broker)
    assert task["task"] == "providers.run_resource_operation"
    assert task["kwargs"]["resource_id"] == response.json()["id"]
    assert task["kwargs"]["operation"] == "create"
    assert task["kwargs"]["request_id"] == response["X-Request-ID"]
    assert Resource.objects.get(pk=response.json()["id"]).status == "pending"


def test_worker_creates_and_deletes_a_postgresql_resource(make_client, pg_provider, worker):
    client = make_client(team_a="RESOURCE_ADMIN")

    with worker.paused():
        response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"
    resource_id = response.json()["id"]

    wait_for_status(resource_id, "ready", worker)
    credentials = client.get(f"{TEAM_A}/{resource_id}").json()["credentials"]
    with psycopg.connect(credentials["uri"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (credentials["username"],)
    assert pg_objects(credentials["database"]) == (1, 1)

    deletion = client.delete(f"{TEAM_A}/{resource_id}")
    assert deletion.status_code == 202, deletion.json()

    deleted = wait_for_status(resource_id, "deleted", worker)
    assert deleted.credentials is None
    assert pg_objects(credentials["database"]) == (0, 0)


def test_worker_records_its_outcome_under_the_request_id_of_the_api_call(
    make_client, pg_provider, worker
):
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")
    wait_for_status(response.json()["id"], "ready", worker)

    success = AuditEntry.objects.get(
        action="resource.create", outcome="success", target_id=response.json()["id"]
    )
    assert success.request_id == response["X-Request-ID"]
    assert success.actor == client.user.username


def test_worker_reports_an_unreachable_server_as_an_error(make_client, pg_provider, worker):
    pg_provider.port = 1  # nothing listens there
    pg_provider.save()
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")

    failed = wait_for_status(response.json()["id"], "error", worker)
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in failed.status_message
    assert failed.credentials is None


def test_worker_log_lines_of_a_task_carry_the_request_id_of_the_api_call(
    make_client, pg_provider, worker
):
    pg_provider.port = 1  # the failure is logged as a warning by the task
    pg_provider.save()
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")
    wait_for_status(response.json()["id"], "error", worker)

    [failure_line] = [
        line for line in worker.output().splitlines() if "resource.create of resource" in line
    ]
    assert response["X-Request-ID"] in failure_line
