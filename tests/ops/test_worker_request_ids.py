"""Worker log lines carry the id of the request that caused their task, never an earlier one's.

A worker process runs many tasks one after another; each must log under its own request's
id, whoever published it (the web, another task, the outbox relay).
"""

from __future__ import annotations

import re
import time

import pytest

from resourcemanager.outbox import relay
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.outbox.tasks import relay_outbox
from resourcemanager.telemetry import context
from tests.support.workers import wait_for_status

pytestmark = pytest.mark.worker

TEAM_A = "/api/c/team-a/resources"


def event_lines(worker_output: str, event: str, resource_id: str) -> list[str]:
    """The log lines of the default event handler for ``event`` of one resource."""
    pattern = re.compile(rf"{re.escape(event)} team-a/\S+ \({re.escape(resource_id)}\)")
    return [line for line in worker_output.splitlines() if pattern.search(line)]


def request_id_of(line: str) -> str:
    """The id in the brackets of a plain log line."""
    match = re.search(r"\[([^\]]*)\]", line)
    assert match, line
    return match.group(1)


@pytest.mark.parametrize(
    "worker", [("solo", 1), ("prefork", 2)], indirect=True, ids=["solo", "prefork"]
)
def test_three_requests_log_their_events_under_their_own_request_ids(
    make_client, pg_provider, worker
):
    client = make_client(team_a="RESOURCE_ADMIN")
    request_ids = ["req-first-0001", "req-second-002", "req-third-0003"]

    # Queued together, so each request's event runs after the other requests' operations.
    with worker.paused():
        created = [
            client.post(TEAM_A, {"provider": "pg", "name": f"orders{n}"}, format="json",
                        HTTP_X_REQUEST_ID=request_id)
            for n, request_id in enumerate(request_ids)
        ]
    for response, request_id in zip(created, request_ids, strict=True):
        assert response.status_code == 201, response.json()
        assert response["X-Request-ID"] == request_id
    for response in created:
        wait_for_status(response.json()["id"], "ready", worker)
    for response in created:
        _wait_for_event_line(worker, "resource.created", response.json()["id"])

    for response, request_id in zip(created, request_ids, strict=True):
        lines = event_lines(worker.output(), "resource.created", response.json()["id"])
        assert [request_id_of(line) for line in lines] == [request_id], lines


def test_an_event_published_by_the_relay_keeps_the_id_of_its_request(
    make_client, pg_provider, worker
):
    client = make_client(team_a="RESOURCE_ADMIN")
    response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json",
                           HTTP_X_REQUEST_ID="req-relayed-001")
    resource_id = response.json()["id"]
    wait_for_status(resource_id, "ready", worker)
    _wait_for_event_line(worker, "resource.created", resource_id)
    later = client.post(TEAM_A, {"provider": "pg", "name": "later"}, format="json",
                        HTTP_X_REQUEST_ID="req-later-0001")
    wait_for_status(later.json()["id"], "ready", worker)
    _wait_for_event_line(worker, "resource.created", later.json()["id"])

    # As if the broker had lost it: the periodic relay publishes it again, under its own id.
    OutboxMessage.objects.filter(kind=OutboxMessage.Kind.EVENT, resource_id=resource_id).update(
        published_at=None, handled_at=None
    )
    context.bind("relay-run-0001")
    try:
        assert relay.relay().published == 1
    finally:
        context.bind(None)
    _wait_for_event_line(worker, "resource.created", resource_id, count=2)

    lines = event_lines(worker.output(), "resource.created", resource_id)
    assert [request_id_of(line) for line in lines] == ["req-relayed-001"] * 2, lines


def test_a_task_published_outside_any_request_logs_under_a_fresh_id_of_its_own(
    make_client, pg_provider, worker
):
    client = make_client(team_a="RESOURCE_ADMIN")
    response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json",
                           HTTP_X_REQUEST_ID="req-earlier-001")
    resource_id = response.json()["id"]
    wait_for_status(resource_id, "ready", worker)
    _wait_for_event_line(worker, "resource.created", resource_id)
    event = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.EVENT, resource_id=resource_id)
    _wait_until(lambda: event.filter(handled_at__isnull=False).exists(), worker)  # logged first

    # Beat publishes without a request: the relay task must not inherit the earlier id.
    event.update(published_at=None, handled_at=None)
    relay_outbox.apply_async()
    _wait_for_event_line(worker, "resource.created", resource_id, count=2)

    [finished] = [line for line in worker.output().splitlines()
                  if "Task resourcemanager.relay_outbox[" in line and "succeeded" in line]
    assert request_id_of(finished) not in ("req-earlier-001", "-"), finished
    # ... while the event it published again still belongs to the request.
    lines = event_lines(worker.output(), "resource.created", resource_id)
    assert [request_id_of(line) for line in lines] == ["req-earlier-001"] * 2, lines


def _wait_until(done, worker) -> None:
    deadline = time.monotonic() + 30
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within 30 s:\n{worker.output()}")
        time.sleep(0.1)


def _wait_for_event_line(worker, event: str, resource_id: str, count: int = 1) -> None:
    deadline = time.monotonic() + 30
    while len(event_lines(worker.output(), event, resource_id)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event} line for {resource_id}:\n{worker.output()}")
        time.sleep(0.2)
