"""Real Celery worker processes for tests, and the broker they share with the test process.

The test process publishes to a Redis database of its own (not eagerly in-process); a
worker is a separate ``celery worker`` process on the same app database (the pytest-django
test database, hence ``transactional_db``), and outcomes are read back from that database.
A scenario on another app database (the embedded SQLite default) runs its web side as a
``WebServer`` subprocess too, with workers on the same ``DATABASE_URL``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import kombu.pools
import pytest
import redis
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from resourcemanager.resources.models import Resource
from tests.conftest import pg_admin_connect
from tests.support.parallel import per_worker_redis_url

REDIS_URL = per_worker_redis_url(
    os.environ.get("RM_TEST_WORKER_REDIS_URL", "redis://127.0.0.1:6379/13"))
QUEUE = "celery"
WORKER_START_TIMEOUT = 30
OPERATION_TIMEOUT = 30
FREEZE_TIMEOUT = 30


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


class _Process:
    """A subprocess whose combined output goes to a log file, stopped with SIGTERM."""

    name = "process"

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen | None = None
        #: Where ``output`` starts: a process that serves several tests shows each its own.
        self.output_start = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        self.launch()
        self.wait_until_ready()

    def launch(self) -> None:
        """Start the process without waiting for it: several start side by side."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=settings.BASE_DIR, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,  # its own process group
            )

    def wait_until_ready(self) -> None:
        assert self.process is not None, f"the {self.name} was not launched"
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while not self.is_ready():
            if self.process.poll() is not None:
                raise AssertionError(f"the {self.name} exited at start:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the {self.name} was not ready in time:\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGKILL to the process and its children (a prefork pool): a test stops it once
        it has read the outcomes it checks, so waiting for a warm shutdown (a second or
        two for a worker) would buy nothing. The database and the broker see their
        connections close as after a crash, which the product is built to survive."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def output(self) -> str:
        """What the process wrote since ``output_start``."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[self.output_start:]

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def begin_output(self) -> None:
        """From now on ``output`` shows only what comes next."""
        self.output_start += len(self.output())


class Worker(_Process):
    """A ``celery worker`` subprocess."""

    name = "worker"

    def __init__(
        self, log_path: Path, env: dict[str, str], *, pool: str = "solo", concurrency: int = 1
    ) -> None:
        super().__init__(log_path, env)
        self.pool, self.concurrency = pool, concurrency

    def command(self) -> list[str]:
        return [
            str(Path(sys.executable).with_name("celery")), "--app", "config", "worker",
            "--pool", self.pool, "--concurrency", str(self.concurrency), "-Q", QUEUE,
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info",
        ]

    def is_ready(self) -> bool:
        return " ready." in self.output()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Freeze the worker (SIGSTOP) so it cannot touch what is queued meanwhile."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)


class WebServer(_Process):
    """``manage.py runserver`` (threaded, as the quick start runs it) on a free port."""

    name = "web server"

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        super().__init__(log_path, env)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, str(settings.BASE_DIR / "manage.py"), "runserver",
            f"127.0.0.1:{self.port}", "--noreload",
        ]

    def is_ready(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0


@contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """Make this process publish tasks to ``broker_url`` instead of running them eagerly."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = broker_url
    drop_connection_pools()
    try:
        yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = saved
        drop_connection_pools()


def drop_connection_pools() -> None:
    """Close and forget broker connections made with the previous configuration."""
    kombu.pools.reset()
    celery_app._pool = None
    amqp = celery_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


def worker_env(broker_url: str, **extra: str) -> dict[str, str]:
    """Environment of a worker process on this test's app database and ``broker_url``."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": app_database_url(),
        "REDIS_URL": broker_url,
        "PYTHONUNBUFFERED": "1",
        # One quick retry of a transient failure, then the terminal error.
        "RM_TASK_MAX_RETRIES": "1",
        "RM_TASK_RETRY_BACKOFF": "1",
        **extra,
    }


def show(title: str, text: str, config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        sys.__stderr__.write(f"--- {title} ---\n{text}\n")
        return
    reporter.write_sep("-", title)
    reporter.write_line(text)


def wait_for_status(
    resource_id: str, status: str, worker: Worker, timeout: float = OPERATION_TIMEOUT
) -> Resource:
    deadline = time.monotonic() + timeout
    while True:
        resource = Resource.objects.get(pk=resource_id)
        if resource.status == status:
            return resource
        if time.monotonic() > deadline:
            raise AssertionError(
                f"resource still {resource.status!r} ({resource.status_message!r}) after "
                f"{timeout}s, expected {status!r}; worker output:\n{worker.output()}"
            )
        time.sleep(0.2)


def freeze_env(point: str, marker: Path) -> dict[str, str]:
    """Environment freezing a worker at checkpoint ``point`` (providers/adapters/checkpoints.py)."""
    return {"RM_FREEZE_AT": point, "RM_FREEZE_MARKER": str(marker)}


def wait_until_frozen(worker: Worker, marker: Path) -> int:
    """Wait for the worker to reach its checkpoint; the pid of the frozen process."""
    deadline = time.monotonic() + FREEZE_TIMEOUT
    while not marker.exists() or not marker.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"the worker never reached its checkpoint:\n{worker.output()}")
        time.sleep(0.05)
    return int(marker.read_text())


def kill_when_frozen(worker: Worker, marker: Path) -> None:
    """Wait for the worker to reach its checkpoint, then SIGKILL it: no cleanup runs."""
    os.kill(wait_until_frozen(worker, marker), signal.SIGKILL)
    assert worker.process is not None
    worker.process.wait(timeout=10)


def pg_objects(name: str) -> tuple[int, int]:
    with pg_admin_connect() as conn:
        databases = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        roles = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (name,))
        return databases.fetchone()[0], roles.fetchone()[0]


def queued_tasks(broker: redis.Redis) -> list[dict]:
    """Messages waiting in the queue, oldest first (kombu pushes to the list's head)."""
    messages = [json.loads(raw) for raw in reversed(broker.lrange(QUEUE, 0, -1))]
    return [
        {"task": m["headers"]["task"], "kwargs": _kwargs(m), "headers": m["headers"]}
        for m in messages
    ]


def _kwargs(message: dict) -> dict:
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return kwargs




class RedisServer:
    """A private ``redis-server`` on a free port that a test can stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
