"""The transactional outbox, in one process: rows with the change, publishing, events, retries.

Worker processes, broker outages and crashes are in test_crash_recovery.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, connection, transaction
from django.http import HttpResponse
from django.utils import timezone

from config.celery import app as celery_app
from providers.models import Provider
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.outbox import relay
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources import operations, resource_runs, services, stuck
from resourcemanager.resources.models import Resource
from resourcemanager.telemetry.after_answer import AfterAnswerMiddleware
from tests.conftest import MYSQL_HOST, MYSQL_PORT, mysql_admin_connect
from tests.support.workers import drop_connection_pools, queued_tasks

TEAM_A = "/api/c/team-a/resources"


def create(client, name: str = "orders", provider: str = "pg") -> dict:
    response = client.post(TEAM_A, {"provider": provider, "name": name}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_every_change_is_published_and_handled_and_announced(
    make_client, pg_provider, recorded_events
):
    client = make_client(team_a="RESOURCE_ADMIN")

    resource_id = create(client)["id"]
    client.patch(f"{TEAM_A}/{resource_id}", {"tags": ["sales"]}, format="json")
    client.post(f"{TEAM_A}/{resource_id}/check")
    client.delete(f"{TEAM_A}/{resource_id}")

    assert Resource.objects.get(pk=resource_id).status == "deleted"
    messages = OutboxMessage.objects.filter(resource_id=resource_id)
    assert [(m.kind, m.name) for m in messages] == [
        ("operation", "create"),
        ("event", "resource.created"),
        ("event", "resource.updated"),
        ("operation", "check"),
        ("event", "resource.checked"),
        ("operation", "delete"),
        ("event", "resource.deleted"),
    ]
    assert all(m.published_at and m.handled_at for m in messages)
    assert [e.name for e in recorded_events] == [
        "resource.created", "resource.updated", "resource.checked", "resource.deleted"
    ]
    assert recorded_events[1].resource["tags"] == ["sales"]
    assert {e.scope for e in recorded_events} == {"team-a"}


def test_in_process_a_request_is_answered_before_its_events_are_handled(
    pg_provider, recorded_events, rf
):
    """Handlers (consumers' deliveries among them) never hold up the answer."""
    def view(request) -> HttpResponse:
        wanted = services.prepare_resource(SYSTEM, "team-a", provider="pg", name="orders")
        with transaction.atomic():
            made.append(services.create_resource(SYSTEM, wanted))
        return HttpResponse(status=201)

    made: list[Resource] = []
    response = AfterAnswerMiddleware(view)(rf.post(TEAM_A))

    assert Resource.objects.get(pk=made[0].pk).status == "ready"  # its run: in the request
    assert recorded_events == []
    request_finished.disconnect(close_old_connections)  # as the test client does
    try:
        response.close()  # the server has delivered the answer
    finally:
        request_finished.connect(close_old_connections)
    assert [event.name for event in recorded_events] == ["resource.created"]
    assert OutboxMessage.objects.filter(resource_id=made[0].pk, handled_at=None).count() == 0
    services.delete_resource(SYSTEM, Resource.objects.get(pk=made[0].pk))


def test_events_carry_no_credentials(make_client, pg_provider, recorded_events):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = create(client)["id"]
    password = client.post(f"{TEAM_A}/{resource_id}/reveal").json()["credentials"]["password"]

    for message in OutboxMessage.objects.all():
        assert password not in str(message.payload)
    assert "credentials" not in recorded_events[0].resource


def test_a_rolled_back_change_leaves_no_message(pg_provider, make_client):
    client = make_client(team_a="RESOURCE_ADMIN")
    request = services.prepare_resource(SYSTEM, "team-a", provider="pg", name="orders")

    with pytest.raises(RuntimeError), transaction.atomic():
        services.create_resource(SYSTEM, request)
        raise RuntimeError("the request failed after the change")

    assert not Resource.objects.exists()
    assert not OutboxMessage.objects.exists()
    assert client.get(TEAM_A).json()["count"] == 0


@pytest.fixture
def broker_down(broker) -> Iterator[None]:
    """Publishing fails as with Redis stopped: nothing listens on the broker's port."""
    working = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    drop_connection_pools()
    yield
    celery_app.conf.broker_url = working
    drop_connection_pools()
    relay._broker_down_until = 0.0


def test_with_the_broker_down_requests_succeed_and_the_work_waits(
    make_client, pg_provider, broker_down, broker
):
    client = make_client(team_a="RESOURCE_ADMIN")

    created = [create(client, f"db{n}") for n in range(3)]

    assert {r["status"] for r in created} == {"pending"}
    waiting = OutboxMessage.objects.unpublished()
    assert waiting.count() == 3
    assert "Connection refused" in waiting.first().last_error
    assert waiting.first().publish_attempts == 1
    assert queued_tasks(broker) == []

    report = relay.relay()  # still down
    assert (report.published, report.pending) == (0, 3)
    assert "Connection refused" in report.error


def test_when_the_broker_is_back_the_relay_publishes_each_message_once(
    make_client, pg_provider, broker
):
    client = make_client(team_a="RESOURCE_ADMIN")
    relay._pause_fast_path()  # as after a failure: requests leave publishing to the relay
    try:
        ids = [create(client, f"db{n}")["id"] for n in range(3)]
    finally:
        relay._broker_down_until = 0.0
    assert queued_tasks(broker) == []

    report = relay.relay()
    again = relay.relay()

    assert (report.published, report.pending, report.error) == (3, 0, "")
    assert again.published == 0
    tasks = queued_tasks(broker)
    assert [t["kwargs"]["resource_id"] for t in tasks] == ids
    assert [t["kwargs"]["operation"] for t in tasks] == ["create"] * 3


def test_concurrent_relays_never_publish_a_message_twice(
    make_client, pg_provider, broker
):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is what keeps relays apart; SQLite has one writer anyway")
    resource = Resource.objects.create(
        scope="team-a", provider=pg_provider, type="sql", name="x", backend_name="rm_relaytest01"
    )
    with transaction.atomic():
        for _ in range(60):
            relay.enqueue_operation(resource, "check", "tests")
    outbox_ids = set(OutboxMessage.objects.values_list("pk", flat=True))
    OutboxMessage.objects.update(published_at=None)  # whatever the commit hook did
    broker.flushdb()
    reports = []

    def run() -> None:
        reports.append(relay.relay(batch_size=7))
        connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.published for r in reports) == 60
    published = [t["kwargs"]["message_id"] for t in queued_tasks(broker)]
    assert sorted(published) == sorted(outbox_ids)


def test_a_message_published_but_never_handled_is_published_again(
    make_client, pg_provider, broker, settings
):
    settings.RM_OPERATION_TIMEOUT = 60
    client = make_client(team_a="RESOURCE_ADMIN")
    create(client)
    assert len(queued_tasks(broker)) == 1
    broker.flushdb()  # the broker lost it (e.g. restarted without persistence)

    assert relay.relay().published == 0  # not yet: a worker may still be on it
    OutboxMessage.objects.update(published_at=timezone.now() - timedelta(seconds=61))
    assert relay.relay().published == 1
    assert len(queued_tasks(broker)) == 1


def test_a_message_whose_process_died_before_publishing_it_is_published_later(
    make_client, pg_provider, broker, settings, monkeypatch
):
    settings.RM_OPERATION_TIMEOUT = 60
    monkeypatch.setattr(relay, "_publish_now", lambda message: None)  # died after its commit
    client = make_client(team_a="RESOURCE_ADMIN")
    create(client)
    [message] = OutboxMessage.objects.all()
    assert message.published_at is not None and queued_tasks(broker) == []

    assert relay.relay().published == 0  # written claimed: its process may still publish it
    OutboxMessage.objects.update(published_at=timezone.now() - timedelta(seconds=61))
    assert relay.relay().published == 1
    assert [t["kwargs"]["message_id"] for t in queued_tasks(broker)] == [message.pk]


def test_handled_messages_are_pruned_after_the_retention(make_client, pg_provider, settings):
    settings.RM_OUTBOX_RETENTION_DAYS = 7
    client = make_client(team_a="RESOURCE_ADMIN")
    create(client)
    assert OutboxMessage.objects.count() == 2
    OutboxMessage.objects.update(handled_at=timezone.now() - timedelta(days=8))
    OutboxMessage.objects.create(kind="event", name="resource.checked", scope="team-a")

    assert relay.prune() == 2
    assert OutboxMessage.objects.count() == 1  # never handled: kept


# --- retries and failures ---------------------------------------------------------------


def test_a_transient_failure_is_retried_and_the_last_attempt_records_the_error(pg_provider):
    pg_provider.port = 1  # connection refused: transient
    pg_provider.save()
    request = services.prepare_resource(SYSTEM, "team-a", provider="pg", name="orders")
    with transaction.atomic():
        resource = services.create_resource(SYSTEM, request)
    resource.refresh_from_db()
    assert resource.status == "error"  # in-process mode: one attempt, no queue to wait in
    Resource.objects.filter(pk=resource.pk).update(status="pending", status_message="")

    with pytest.raises(operations.RetryLater):
        resource_runs.run_operation(str(resource.pk), "create", actor="tests", last_attempt=False)
    resource.refresh_from_db()
    assert resource.status == "creating"
    assert resource.status_message.startswith("retrying: cannot reach PostgreSQL")

    resource_runs.run_operation(str(resource.pk), "create", actor="tests", last_attempt=True)
    resource.refresh_from_db()
    assert resource.status == "error"
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in resource.status_message


@pytest.fixture
def mysql_admin_without_grant(backend_cleanup) -> Iterator[Provider]:
    """A MySQL admin that may create databases and users but not grant: CREATE fails halfway."""
    user, password = "rm_halfadmin", "half-admin-" + "x" * 24
    with mysql_admin_connect() as conn, conn.cursor() as cur:
        cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
        cur.execute("GRANT CREATE, DROP ON `rm\\_%%`.* TO %s@'%%'", (user,))
        cur.execute("GRANT CREATE USER, PROCESS ON *.* TO %s@'%%'", (user,))
    yield Provider.objects.create(
        key="mysql-half", provider_class="mysql", host=MYSQL_HOST, port=MYSQL_PORT,
        username=user, password=password,
    )
    with mysql_admin_connect() as conn, conn.cursor() as cur:
        cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))


def test_a_failed_creation_leaves_nothing_on_the_server(mysql_admin_without_grant):
    request = services.prepare_resource(SYSTEM, "team-a", provider="mysql-half", name="orders")
    with transaction.atomic():
        resource = services.create_resource(SYSTEM, request)

    resource.refresh_from_db()
    assert resource.status == "error"
    assert "denied" in resource.status_message.lower()
    assert resource.credentials is None
    with mysql_admin_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                    (resource.backend_name,))
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM mysql.user WHERE User = %s", (resource.backend_name,))
        assert cur.fetchone() == (0,)


# --- stuck operations -------------------------------------------------------------------


def test_the_sweeper_runs_again_only_operations_stuck_past_the_timeout(pg_provider, settings):
    settings.RM_OPERATION_TIMEOUT = 300
    long_ago = timezone.now() - timedelta(seconds=301)
    left = Resource.objects.create(
        scope="team-a", provider=pg_provider, type="sql", name="stuck", status="creating",
        backend_name="rm_stuckcreate1",
    )
    recent = Resource.objects.create(
        scope="team-a", provider=pg_provider, type="sql", name="recent", status="creating",
        backend_name="rm_recentcreat1",
    )
    Resource.objects.filter(pk=left.pk).update(updated_at=long_ago)

    requeued = stuck.sweep_stuck_operations()

    assert [r.pk for r in requeued] == [left.pk]
    left.refresh_from_db()
    recent.refresh_from_db()
    assert left.status == "ready"  # run again in-process, and finished
    assert recent.status == "creating"
    assert stuck.sweep_stuck_operations() == []


def test_concurrent_runs_of_one_operation_do_the_work_once(pg_provider):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    resource = Resource.objects.create(
        scope="team-a", provider=pg_provider, type="sql", name="race", status="pending",
        backend_name="rm_racecreate1",
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            resource_runs.run_operation(str(resource.pk), "create", actor="tests")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # One run holds the lease; the others found it busy (their task retries later) or
    # found the work done.
    assert all(isinstance(exc, operations.OperationBusy) for exc in errors)
    resource.refresh_from_db()
    assert resource.status == "ready"
    assert (resource.operation, resource.attempts, resource.lease_id) == ("", 0, None)
    successes = resource_audit(resource, "resource.create", "success")
    assert successes == 1


def resource_audit(resource: Resource, action: str, outcome: str) -> int:
    from audit.models import AuditEntry

    return AuditEntry.objects.filter(
        target_id=str(resource.pk), action=action, outcome=outcome
    ).count()

