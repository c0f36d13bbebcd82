"""Workers killed mid-operation, a broker outage and a backend outage, with real processes.

A worker is frozen at a checkpoint inside CREATE or DELETE (one backend object made or
dropped, the other not yet) and SIGKILLed; once its lease on the resource has expired, a new
worker finishes the operation, found again through the broker's redelivery or through the
stuck-operation sweeper.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from providers.adapters.checkpoints import CREATE_HALF_DONE, DELETE_HALF_DONE
from resourcemanager.outbox import relay
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources import stuck
from resourcemanager.resources.models import Resource
from tests.conftest import mysql_admin_connect
from tests.support.pgcluster import free_port
from tests.support.recording import read_events
from tests.support.workers import (
    REDIS_URL,
    RedisServer,
    freeze_env,
    kill_when_frozen,
    pg_objects,
    publishing_to,
    wait_for_status,
    worker_env,
)

pytestmark = pytest.mark.worker

TEAM_A = "/api/c/team-a/resources"
#: A doomed worker's lease on its resource expires soon after it is killed.
SHORT_LEASE = {"RM_OPERATION_TIMEOUT": "3"}


def wait_for_lease_expiry(resource_id: str) -> None:
    expires_at = Resource.objects.get(pk=resource_id).lease_expires_at
    assert expires_at is not None, "the killed run held no lease"
    time.sleep(max((expires_at - timezone.now()).total_seconds(), 0) + 0.1)


def mysql_objects(name: str) -> tuple[int, int]:
    with mysql_admin_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                    (name,))
        databases = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM mysql.user WHERE User = %s", (name,))
        return databases, cur.fetchone()[0]


def test_create_killed_halfway_is_finished_by_redelivery(
    make_client, pg_provider, broker, start_worker, tmp_path
):
    marker = tmp_path / "frozen"
    # Unacknowledged messages come back to a live worker after the visibility timeout, at
    # its next scan for them.
    fast_redelivery = {"RM_TASK_VISIBILITY_TIMEOUT": "2",
                       "DJANGO_SETTINGS_MODULE": "tests.support.redelivery_settings"}
    doomed = start_worker(**fast_redelivery, **SHORT_LEASE, **freeze_env(CREATE_HALF_DONE, marker))
    client = make_client(team_a="RESOURCE_ADMIN")

    resource_id = client.post(TEAM_A, {"provider": "pg", "name": "orders"},
                              format="json").json()["id"]
    kill_when_frozen(doomed, marker)
    name = Resource.objects.get(pk=resource_id).backend_name
    assert Resource.objects.get(pk=resource_id).status == "creating"
    assert pg_objects(name) == (0, 1)  # the login exists, the database not yet

    survivor = start_worker(**fast_redelivery)
    ready = wait_for_status(resource_id, "ready", survivor, timeout=90)

    assert pg_objects(name) == (1, 1)
    with psycopg.connect(ready.credentials["uri"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (name,)
    assert OutboxMessage.objects.get(resource_id=resource_id, name="create").handled_at


def test_delete_killed_halfway_is_finished_after_the_sweeper_requeues_it(
    make_client, mysql_provider, broker, start_worker, tmp_path
):
    marker = tmp_path / "frozen"
    doomed = start_worker(**SHORT_LEASE, **freeze_env(DELETE_HALF_DONE, marker))
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = client.post(TEAM_A, {"provider": "mysql", "name": "orders"},
                              format="json").json()["id"]
    resource = wait_for_status(resource_id, "ready", doomed)
    credentials = resource.credentials

    client.delete(f"{TEAM_A}/{resource_id}")
    kill_when_frozen(doomed, marker)
    assert Resource.objects.get(pk=resource_id).status == "deleting"
    assert mysql_objects(resource.backend_name) == (1, 0)  # the login is gone, not the data

    survivor = start_worker()  # default visibility timeout: no redelivery within the test
    wait_for_lease_expiry(resource_id)
    [requeued] = stuck.sweep_stuck_operations()
    assert str(requeued.pk) == resource_id

    wait_for_status(resource_id, "deleted", survivor)
    assert mysql_objects(resource.backend_name) == (0, 0)
    with pytest.raises(pymysql.OperationalError):
        pymysql.connect(host=credentials["host"], port=credentials["port"],
                        user=credentials["username"], password=credentials["password"])


def test_create_killed_halfway_on_mysql_ends_with_one_database_and_one_login(
    make_client, mysql_provider, broker, start_worker, tmp_path
):
    marker = tmp_path / "frozen"
    doomed = start_worker(**SHORT_LEASE, **freeze_env(CREATE_HALF_DONE, marker))
    client = make_client(team_a="RESOURCE_ADMIN")
    resource_id = client.post(TEAM_A, {"provider": "mysql", "name": "orders"},
                              format="json").json()["id"]
    kill_when_frozen(doomed, marker)
    name = Resource.objects.get(pk=resource_id).backend_name
    assert mysql_objects(name) == (1, 0)

    survivor = start_worker()
    wait_for_lease_expiry(resource_id)
    stuck.sweep_stuck_operations()
    ready = wait_for_status(resource_id, "ready", survivor)

    assert mysql_objects(name) == (1, 1)
    conn = pymysql.connect(host=ready.credentials["host"], port=ready.credentials["port"],
                           user=name, password=ready.credentials["password"], database=name)
    conn.close()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    try:
        with publishing_to(server.url):
            yield server
    finally:
        server.stop()
        relay._broker_down_until = 0.0


def test_operations_made_while_redis_is_down_are_delivered_once_it_is_back(
    make_client, pg_provider, private_redis, start_worker, tmp_path
):
    event_log = tmp_path / "events.jsonl"
    worker = start_worker(
        private_redis.url,
        RM_EVENT_HANDLERS="resourcemanager.outbox.events.log_event,tests.support.recording.append_event",
        RM_TEST_EVENT_LOG=str(event_log),
    )
    client = make_client(team_a="RESOURCE_ADMIN")
    private_redis.stop()

    responses = [client.post(TEAM_A, {"provider": "pg", "name": f"db{n}"}, format="json")
                 for n in range(20)]

    assert [r.status_code for r in responses] == [201] * 20
    ids = [r.json()["id"] for r in responses]
    assert OutboxMessage.objects.unpublished().count() == 20
    assert set(Resource.objects.values_list("status", flat=True)) == {"pending"}

    private_redis.start()
    report = relay.relay()  # what beat's periodic relay task does
    assert (report.published, report.pending, report.error) == (20, 0, "")

    for resource_id in ids:
        wait_for_status(resource_id, "ready", worker, timeout=90)
    deadline = time.monotonic() + 30
    while len(read_events(str(event_log))) < 20 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # a duplicate would arrive now
    delivered = read_events(str(event_log))
    assert sorted(e["resource"] for e in delivered) == sorted(ids)
    assert {e["name"] for e in delivered} == {"resource.created"}
    assert len({e["id"] for e in delivered}) == 20  # each event exactly once
    assert not OutboxMessage.objects.filter(handled_at__isnull=True).exists()


def test_beat_relays_what_the_web_process_could_not_publish(
    make_client, pg_provider, broker, start_worker, tmp_path
):
    worker = start_worker()
    client = make_client(team_a="RESOURCE_ADMIN")
    relay._pause_fast_path()  # as right after a failed publish
    try:
        resource_id = client.post(TEAM_A, {"provider": "pg", "name": "orders"},
                                  format="json").json()["id"]
    finally:
        relay._broker_down_until = 0.0
    assert OutboxMessage.objects.unpublished().count() == 1

    beat_log = tmp_path / "beat.log"
    with beat_log.open("wb") as log:
        beat = subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "--app", "config", "beat",
             "--schedule", str(tmp_path / "beat-schedule"), "-l", "info"],
            cwd=django_settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
            env=worker_env(REDIS_URL, RM_OUTBOX_RELAY_INTERVAL="1"),
        )
    try:
        wait_for_status(resource_id, "ready", worker)
    finally:
        beat.terminate()
        beat.wait(timeout=15)
    assert "resourcemanager.relay_outbox" in beat_log.read_text()
    assert not OutboxMessage.objects.filter(handled_at__isnull=True, kind="operation").exists()


def test_every_scheduled_task_exists():
    from config.celery import app

    app.loader.import_default_modules()
    for entry in django_settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
