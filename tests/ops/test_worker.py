"""A real Celery worker process runs provider operations queued in Redis by the API."""

from __future__ import annotations

import psycopg
import pytest

from audit.models import AuditEntry
from resourcemanager.resources.models import Resource
from resourcemanager.telemetry import context
from tests.support.workers import pg_objects, queued_tasks, wait_for_status

pytestmark = pytest.mark.worker

TEAM_A = "/api/c/team-a/resources"


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
    assert task["headers"][context.REQUEST_ID_HEADER] == response["X-Request-ID"]
    assert Resource.objects.get(pk=response.json()["id"]).status == "pending"


def test_worker_creates_and_deletes_a_postgresql_resource(make_client, pg_provider, worker):
    client = make_client(team_a="RESOURCE_ADMIN")

    with worker.paused():
        response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"
    resource_id = response.json()["id"]

    wait_for_status(resource_id, "ready", worker)
    credentials = client.post(f"{TEAM_A}/{resource_id}/reveal").json()["credentials"]
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

    lines = [line for line in worker.output().splitlines() if "resource.create of" in line]
    assert [("will be retried" in line, "failed" in line) for line in lines] == [
        (True, False), (False, True)
    ]
    assert all(response["X-Request-ID"] in line for line in lines)
