"""Operations and deliveries hold no row lock while they talk to a backend or a tool: a
lease marks the run instead, its outcome is recorded in a short transaction, and a lease
that expires (a killed worker) is taken over by the stuck-operation sweep."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from audit.models import AuditEntry
from consumers.models import Delivery
from providers.adapters.checkpoints import CREATE_HALF_DONE
from providers.adapters.naming import new_backend_name
from resourcemanager.outbox import events
from resourcemanager.resources import operations, resource_runs, stuck
from resourcemanager.resources.models import Resource
from tests.conftest import pg_admin_connect
from tests.support.workers import (
    app_database_url,
    freeze_env,
    kill_when_frozen,
    pg_objects,
    wait_for_status,
    wait_until_frozen,
)

TEAM_A = "/api/c/team-a"


def lockable(table: str, row_id: object) -> bool:
    """Whether another connection can lock the row at once (``FOR UPDATE NOWAIT``)."""
    with psycopg.connect(app_database_url(), connect_timeout=5) as conn:
        try:
            conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE NOWAIT").format(
                    sql.Identifier(table)
                ),
                (row_id,),
            )
        except psycopg.errors.LockNotAvailable:
            return False
        return True


@pytest.mark.worker
def test_no_row_lock_is_held_while_the_backend_works_and_an_expired_lease_is_taken_over(
    make_client, pg_provider, broker, start_worker, tmp_path
):
    marker = tmp_path / "frozen"
    doomed = start_worker(RM_OPERATION_TIMEOUT="4", **freeze_env(CREATE_HALF_DONE, marker))
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = client.post(f"{TEAM_A}/resources", {"provider": "pg", "name": "orders"},
                              format="json").json()["id"]

    wait_until_frozen(doomed, marker)  # inside CREATE: the login exists, the database not
    assert lockable("resourcemanager_resource", resource_id)
    running = Resource.objects.get(pk=resource_id)
    assert (running.status, running.operation, running.attempts) == ("creating", "create", 1)
    assert running.lease_expires_at > timezone.now()
    assert client.get(f"{TEAM_A}/resources/{resource_id}").status_code == 200

    kill_when_frozen(doomed, marker)
    assert stuck.sweep_stuck_operations() == []  # the lease has not expired yet
    survivor = start_worker()  # meanwhile the lease runs out
    time.sleep(max((running.lease_expires_at - timezone.now()).total_seconds(), 0) + 0.1)
    [requeued] = stuck.sweep_stuck_operations()

    assert str(requeued.pk) == resource_id
    ready = wait_for_status(resource_id, "ready", survivor)
    assert pg_objects(ready.backend_name) == (1, 1)
    assert (ready.operation, ready.attempts, ready.lease_expires_at) == ("", 0, None)
    requeue = AuditEntry.objects.get(target_id=resource_id, action="resource.create",
                                     outcome="accepted", actor="system")
    assert requeue.message == "queued again: its create run did not finish within its lease"


seen_in_transaction: list[tuple[bool, bool]] = []


def probe(event: events.Event) -> None:
    """Event handler: whether it runs inside a transaction, and whether its outbox row is
    free to lock."""
    seen_in_transaction.append(
        (connection.in_atomic_block, lockable("resourcemanager_outboxmessage", event.id))
    )


def test_in_process_tasks_run_after_the_relay_commits(make_client, pg_provider, settings):
    settings.RM_EVENT_HANDLERS = [f"{__name__}.probe"]
    events.handlers.cache_clear()
    seen_in_transaction.clear()
    client = make_client(team_a="RESOURCE_ADMIN")
    try:
        response = client.post(f"{TEAM_A}/resources", {"provider": "pg", "name": "orders"},
                                format="json")
    finally:
        events.handlers.cache_clear()

    assert response.json()["status"] == "ready"
    assert seen_in_transaction == [(False, True)]


@pytest.fixture
def hook_checking_locks() -> Iterator[tuple[str, list[bool]]]:
    """A webhook endpoint answering 200 that notes, per request, whether every delivery
    row is free to lock while the request is being made."""
    seen: list[bool] = []
    database_url = app_database_url()  # skips the test where no other process can look

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with psycopg.connect(database_url, connect_timeout=5) as conn:
                try:
                    conn.execute("SELECT id FROM consumers_delivery FOR UPDATE NOWAIT")
                    seen.append(True)
                except psycopg.errors.LockNotAvailable:
                    seen.append(False)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args) -> None:
            """Quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_no_row_lock_is_held_while_a_tool_is_called(make_client, pg_provider,
                                                    hook_checking_locks):
    url, seen = hook_checking_locks
    client = make_client(team_a="ADMIN")
    added = client.post(f"{TEAM_A}/consumers", {
        "builder": "webhook", "name": "hook", "properties": {"url": url, "secret": "s" * 24},
    }, format="json")
    assert added.status_code == 201, added.json()

    client.post(f"{TEAM_A}/resources", {"provider": "pg", "name": "orders"}, format="json")

    assert seen == [True]
    assert list(Delivery.objects.values_list("status", flat=True)) == ["delivered"]


def end_session(pid: int) -> None:
    with pg_admin_connect() as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_delete_requested_while_the_backend_creates_runs_when_the_creation_ends(
    make_client, pg_provider
):
    """In-process: CREATE is held up on the server (another session is creating its login);
    the DELETE request meanwhile is answered at once and runs after the CREATE run ends."""
    name = new_backend_name()
    resource = Resource.objects.create(scope="team-a", provider=pg_provider, type="sql",
                                       name="orders", backend_name=name)
    client = make_client(team_a="RESOURCE_ADMIN")
    with pg_admin_connect() as blocker:
        blocker.autocommit = False
        blocker.execute(f"CREATE ROLE {name}")  # uncommitted: the CREATE run waits on it
        guard = threading.Timer(15, end_session, (blocker.info.backend_pid,))
        guard.start()

        def create() -> None:
            try:
                resource_runs.run_operation(str(resource.pk), "create", actor="tests")
            finally:
                connection.close()

        creating = threading.Thread(target=create)
        creating.start()
        while Resource.objects.get(pk=resource.pk).operation != "create":
            time.sleep(0.05)
        started = time.monotonic()
        response = client.delete(f"{TEAM_A}/resources/{resource.pk}")
        answered_in = time.monotonic() - started
        blocker.rollback()
    creating.join(timeout=30)
    guard.cancel()

    assert response.status_code == 202
    assert answered_in < 5  # no row lock held by the CREATE run
    resource.refresh_from_db()
    assert resource.status == "deleted"
    assert pg_objects(name) == (0, 0)


def test_a_locked_resource_leaves_its_provider_free(make_client, memory_provider):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = client.post(f"{TEAM_A}/resources", {"provider": memory_provider.key,
                                                     "name": "orders"},
                              format="json").json()["id"]

    with transaction.atomic():
        locked = operations.locked_resource(resource_id)
        assert locked.provider == memory_provider
        assert not lockable("resourcemanager_resource", resource_id)
        assert lockable("providers_provider", memory_provider.pk)  # others' runs go on
