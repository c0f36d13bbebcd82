"""Retries follow RM_TASK_MAX_RETRIES and RM_CONSUMER_MAX_RETRIES, counted in the database
(a re-queue does not start the count again), and the last attempt ends in ``error`` or
``failed`` with the reason; with real worker processes where Celery's own count mattered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from threading import Thread

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from consumers import deliveries
from consumers.models import Consumer, Delivery
from resourcemanager.resources import operations, resource_runs
from resourcemanager.resources.models import Resource
from tests.support.workers import OPERATION_TIMEOUT, Worker, wait_for_status

TEAM_A = "/api/c/team-a"
#: Retries at once (a backoff capped at zero): what counts here is their number.
NO_BACKOFF = {"RM_TASK_RETRY_BACKOFF": "1", "RM_TASK_RETRY_BACKOFF_MAX": "0",
              "RM_CONSUMER_RETRY_BACKOFF": "1", "RM_CONSUMER_RETRY_BACKOFF_MAX": "0"}


@pytest.fixture
def unreachable_pg(pg_provider):
    pg_provider.port = 1  # connection refused: transient
    pg_provider.save()
    return pg_provider


def test_runs_are_counted_in_the_database_across_tasks(unreachable_pg, settings):
    settings.RM_TASK_MAX_RETRIES = 2
    resource = Resource.objects.create(
        scope="team-a", provider=unreachable_pg, type="sql", name="orders",
        backend_name="rm_retrycount01",
    )

    for attempt in (1, 2):  # each a new task message, as after a re-queue
        with pytest.raises(operations.RetryLater) as raised:
            resource_runs.run_operation(str(resource.pk), "create", actor="tests",
                                        last_attempt=False)
        assert raised.value.attempt == attempt
    resource_runs.run_operation(str(resource.pk), "create", actor="tests", last_attempt=False)

    resource.refresh_from_db()
    assert resource.status == "error"
    assert resource.status_message.startswith("cannot reach PostgreSQL at 127.0.0.1:1")
    assert (resource.operation, resource.attempts) == ("", 0)


@pytest.mark.worker
def test_a_dead_backend_ends_in_error_after_the_configured_retries(
    make_client, unreachable_pg, broker, start_worker
):
    worker = start_worker(RM_TASK_MAX_RETRIES="5", **NO_BACKOFF)
    client = make_client(team_a="RESOURCE_ADMIN")

    resource_id = client.post(f"{TEAM_A}/resources", {"provider": "pg", "name": "orders"},
                              format="json").json()["id"]

    failed = wait_for_status(resource_id, "error", worker, timeout=60)
    assert failed.status_message.startswith("cannot reach PostgreSQL at 127.0.0.1:1")
    assert worker.output().count("will be retried") == 5
    assert "MaxRetriesExceeded" not in worker.output()
    assert AuditEntry.objects.filter(target_id=resource_id, action="resource.create",
                                     outcome="failure").count() == 1


@pytest.fixture
def failing_hook() -> Iterator[tuple[str, list[float]]]:
    """A webhook endpoint that always answers 503 (transient); notes when it was called."""
    calls: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            calls.append(time.monotonic())
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args) -> None:
            """Quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", calls
    finally:
        httpd.shutdown()
        httpd.server_close()


def add_hook(client, url: str) -> Consumer:
    response = client.post(f"{TEAM_A}/consumers", {
        "builder": "webhook", "name": "hook", "properties": {"url": url, "secret": "s" * 24},
    }, format="json")
    assert response.status_code == 201, response.json()
    return Consumer.objects.get(pk=response.json()["id"])


def wait_for_delivery(status: str, worker: Worker, timeout: float = OPERATION_TIMEOUT
                      ) -> Delivery:
    deadline = time.monotonic() + timeout
    while True:
        delivery = Delivery.objects.first()
        if delivery is not None and delivery.status == status:
            return delivery
        if time.monotonic() > deadline:
            found = delivery and (delivery.status, delivery.attempts)
            raise AssertionError(f"delivery {found}, expected {status!r}:\n{worker.output()}")
        time.sleep(0.2)


@pytest.mark.worker
def test_a_tool_down_for_good_fails_the_delivery_after_the_configured_retries(
    make_client, pg_provider, broker, start_worker, failing_hook
):
    url, calls = failing_hook
    worker = start_worker(RM_CONSUMER_MAX_RETRIES="4", **NO_BACKOFF)
    client = make_client(team_a="ADMIN")
    add_hook(client, url)

    client.post(f"{TEAM_A}/resources", {"provider": "pg", "name": "orders"}, format="json")

    failed = wait_for_delivery("failed", worker, timeout=60)
    assert failed.attempts == 5  # the first and four retries
    assert len(calls) == 5
    # The configured backoff, not the default one (5 to 10 s before the first retry).
    assert max(b - a for a, b in pairwise(calls)) < 5
    assert failed.last_error == "the webhook at 127.0.0.1 answered HTTP 503"
    assert "MaxRetriesExceeded" not in worker.output()


def in_30s(attempt: int) -> float:
    return 30


def test_delivery_attempts_are_counted_in_the_database(make_client, pg_provider,
                                                       failing_hook, settings):
    url, _calls = failing_hook
    settings.RM_CONSUMER_MAX_RETRIES = 1
    client = make_client(team_a="ADMIN")
    client.post(f"{TEAM_A}/resources", {"provider": "pg", "name": "orders"}, format="json")
    add_hook(client, url)  # in-process: delivered once at once, failed
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="pending", attempts=0)

    with pytest.raises(deliveries.RetryDelivery) as raised:
        deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)
    assert raised.value.delay == 30
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)  # a new task

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 2)


def test_stalled_deliveries_are_queued_again_and_audited(make_client, pg_provider,
                                                         failing_hook, settings):
    url, calls = failing_hook
    client = make_client(team_a="ADMIN")
    client.post(f"{TEAM_A}/resources", {"provider": "pg", "name": "orders"}, format="json")
    consumer = add_hook(client, url)
    long_ago = timezone.now() - timedelta(seconds=settings.RM_OPERATION_TIMEOUT + 1)
    stalled = Delivery.objects.get()
    Delivery.objects.filter(pk=stalled.pk).update(status="pending", updated_at=long_ago)
    waiting = Delivery.objects.create(  # its retry is due later: left alone
        consumer=consumer, event="resource.updated", resource_id=stalled.resource_id,
        resource=stalled.resource, provider_class="postgresql", occurred_at=timezone.now(),
        next_attempt_at=timezone.now() + timedelta(seconds=60),
    )
    Delivery.objects.filter(pk=waiting.pk).update(updated_at=long_ago)

    assert deliveries.requeue_stalled() == 1

    assert len(calls) == 2  # the first delivery, and the re-queued one (in-process)
    entry = AuditEntry.objects.get(action="consumer.deliver", outcome="accepted")
    assert entry.message == (f"resource.created of orders ({stalled.resource_id}) queued "
                             f"again: untouched for {settings.RM_OPERATION_TIMEOUT} s")
    assert entry.actor == "system"
