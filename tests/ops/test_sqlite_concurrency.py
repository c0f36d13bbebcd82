"""The embedded default under concurrent work: SQLite, Redis and prefork workers.

As ``scripts/quickstart`` runs it with ``REDIS_URL``: a threaded ``runserver`` and Celery
workers, all subprocesses on one SQLite file under ``RM_DATA_DIR``, run many provider
operations (PostgreSQL resources) and webhook deliveries at once. Every record must end
in its final state and nothing may fail with "database is locked".
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from psycopg import sql

from tests.conftest import pg_admin_connect
from tests.consumers.conftest import SECRET, WebhookServer, webhook_server  # noqa: F401
from tests.ops.test_quickstart_smoke import call, manage_ok, quickstart_env
from tests.support.workers import REDIS_URL, WebServer, Worker, show

pytestmark = pytest.mark.worker

RESOURCES = 8
CONSUMERS = 2
TIMEOUT = 180
LOCKED = "database is locked"


class EmbeddedDefault:
    """Web server and workers on one SQLite app database, and what they logged."""

    def __init__(self, data_dir: Path, web: WebServer, workers: list[Worker], token: str):
        self.database = data_dir / "db.sqlite3"
        self.web, self.workers, self.token = web, workers, token

    def call(self, method: str, path: str, body: dict | None = None):
        return call(self.web, self.token, method, path, body)

    def logs(self) -> str:
        return "\n".join(process.output() for process in (self.web, *self.workers))

    def rows(self, query: str) -> list[tuple]:
        """Read the app database as it is now (read-only, waiting for writers)."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute(query).fetchall()

    def wait_until(self, query: str, expected: list[tuple]) -> list[tuple]:
        """Poll ``query`` until it returns ``expected``, a lock error is logged, or time out."""
        deadline = time.monotonic() + TIMEOUT
        while (found := self.rows(query)) != expected:
            if LOCKED in self.logs() or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return found


@pytest.fixture
def embedded(request, broker, tmp_path) -> Iterator[EmbeddedDefault]:
    """Bootstrapped data directory, ``runserver`` and two prefork workers (concurrency 2)."""
    data_dir = tmp_path / "data"
    env = quickstart_env(
        data_dir, REDIS_URL=REDIS_URL, RM_PROVIDER_MYSQL_URL="",
        # The webhook receiver of this test listens on the loopback interface.
        RM_CONSUMER_ALLOWED_NETWORKS="127.0.0.0/8",
    )
    manage_ok(env, "bootstrap")
    web = WebServer(tmp_path / "web.log", env)
    workers = [
        Worker(tmp_path / f"worker{n}.log", env, pool="prefork", concurrency=2)
        for n in range(2)
    ]
    failures_before = request.session.testsfailed
    setup = EmbeddedDefault(data_dir, web, workers, token="")
    try:
        for process in (web, *workers):
            process.launch()
        setup.token = manage_ok(env, "create_api_token", "admin").stdout.strip()
        for process in (web, *workers):
            process.wait_until_ready()
        yield setup
    finally:
        for process in (web, *workers):
            process.stop()
        if request.session.testsfailed > failures_before:
            show("web server and worker output", setup.logs(), request.config)
        _drop_backends(setup)


def _drop_backends(setup: EmbeddedDefault) -> None:
    """Whatever the test left on the PostgreSQL server."""
    names = [name for (name,) in setup.rows(
        "SELECT backend_name FROM resourcemanager_resource WHERE backend_name IS NOT NULL"
    )]
    with pg_admin_connect() as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_concurrent_operations_and_deliveries_all_finish_on_sqlite(
    embedded: EmbeddedDefault, webhook_server: WebhookServer  # noqa: F811
):
    for n in range(CONSUMERS):
        status, body = embedded.call("POST", "/api/c/team-a/consumers", {
            "builder": "webhook", "name": f"hook{n}",
            "properties": {"url": webhook_server.url, "secret": SECRET},
        })
        assert status == 201, (body, embedded.logs())

    def create(n: int) -> str:
        status, body = embedded.call(
            "POST", "/api/c/team-a/resources", {"provider": "postgresql", "name": f"load{n}"}
        )
        assert status == 201, body
        return body["id"]

    def delete(resource_id: str) -> None:
        status, body = embedded.call("DELETE", f"/api/c/team-a/resources/{resource_id}")
        assert status == 202, body

    with ThreadPoolExecutor(max_workers=RESOURCES) as pool:
        ids = list(pool.map(create, range(RESOURCES)))
        ready = embedded.wait_until(
            "SELECT status, count(*) FROM resourcemanager_resource GROUP BY status",
            [("ready", RESOURCES)],
        )
        assert ready == [("ready", RESOURCES)], embedded.logs()
        # Deletions run while the creations' deliveries are still going out.
        list(pool.map(delete, ids))

    resources = embedded.wait_until(
        "SELECT status, count(*) FROM resourcemanager_resource GROUP BY status",
        [("deleted", RESOURCES)],
    )
    finished = embedded.wait_until(
        "SELECT count(*) FROM consumers_delivery WHERE status IN ('delivered', 'skipped')",
        [(2 * RESOURCES * CONSUMERS,)],
    )
    deliveries = dict(embedded.rows(
        "SELECT event || ' ' || status, count(*) FROM consumers_delivery GROUP BY 1"))

    assert embedded.rows("PRAGMA journal_mode") == [("wal",)]
    assert LOCKED not in embedded.logs()
    assert resources == [("deleted", RESOURCES)]
    assert finished == [(2 * RESOURCES * CONSUMERS,)], deliveries
    # A creation whose turn came after its resource was deleted is skipped (there is no
    # login left to hand over); every deletion reaches every consumer.
    assert deliveries["resource.deleted delivered"] == RESOURCES * CONSUMERS
    assert set(deliveries) <= {"resource.created delivered", "resource.created skipped",
                               "resource.deleted delivered"}
    received = [(r.json()["event"], r.json()["resource"]["id"]) for r in webhook_server.requests]
    assert {(event, rid) for event, rid in received if event == "resource.deleted"} == {
        ("resource.deleted", resource_id) for resource_id in ids}
    assert len(received) == (deliveries["resource.deleted delivered"]
                             + deliveries.get("resource.created delivered", 0))
    with pg_admin_connect() as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = ANY(%s)",
            ([name for (name,) in embedded.rows(
                "SELECT backend_name FROM resourcemanager_resource"
                " WHERE backend_name IS NOT NULL")],),
        ).fetchone()
    assert left == (0,)
