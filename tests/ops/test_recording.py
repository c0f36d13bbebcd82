"""An operation's outcome is recorded even when the app database refuses the recording
transaction: it is tried again at once, and when it keeps failing, the lease expires and
the sweep runs the (idempotent) operation again. The failures are real: a trigger in the
app database refuses the UPDATE that marks a resource deleted, as a serialization failure
(an ``OperationalError``) would."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection
from django.utils import timezone

from resourcemanager.resources import stuck
from resourcemanager.resources.models import Resource
from tests.support.workers import pg_objects

TEAM_A = "/api/c/team-a/resources"


@pytest.fixture
def refuse_marking_deleted(transactional_db) -> Iterator[Callable[[int], None]]:
    """``refuse_marking_deleted(n)``: the next ``n`` UPDATEs setting a resource's status
    to ``deleted`` fail with SQLSTATE 40001 (the sequence counts outside transactions)."""
    if connection.vendor != "postgresql":
        pytest.skip("the failure is injected with a PostgreSQL trigger")

    def refuse(times: int) -> None:
        with connection.cursor() as cur:
            cur.execute("DROP TRIGGER IF EXISTS rm_test_refuse ON resourcemanager_resource")
            cur.execute("DROP SEQUENCE IF EXISTS rm_test_refusals")
            cur.execute("CREATE SEQUENCE rm_test_refusals")
            cur.execute(f"""
                CREATE OR REPLACE FUNCTION rm_test_refuse() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.status = 'deleted' THEN
                        IF nextval('rm_test_refusals') <= {int(times)} THEN
                            RAISE EXCEPTION 'could not serialize access (test)'
                                USING ERRCODE = '40001';
                        END IF;
                    END IF;
                    RETURN NEW;
                END $$""")
            cur.execute("CREATE TRIGGER rm_test_refuse BEFORE UPDATE ON resourcemanager_resource "
                        "FOR EACH ROW EXECUTE FUNCTION rm_test_refuse()")

    yield refuse
    with connection.cursor() as cur:
        cur.execute("DROP TRIGGER IF EXISTS rm_test_refuse ON resourcemanager_resource")
        cur.execute("DROP FUNCTION IF EXISTS rm_test_refuse()")
        cur.execute("DROP SEQUENCE IF EXISTS rm_test_refusals")


def create(client) -> Resource:
    response = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json")
    assert response.json()["status"] == "ready", response.json()
    return Resource.objects.get(pk=response.json()["id"])


def test_a_recording_refused_once_is_tried_again(
    make_client, pg_provider, recorded_events, refuse_marking_deleted
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client)
    refuse_marking_deleted(1)

    assert client.delete(f"{TEAM_A}/{resource.pk}").status_code == 202

    resource.refresh_from_db()
    assert resource.status == "deleted"
    assert pg_objects(resource.backend_name) == (0, 0)
    assert [e.name for e in recorded_events] == ["resource.created", "resource.deleted"]


def test_a_recording_that_keeps_failing_is_redone_by_the_sweep_once_the_lease_expires(
    make_client, pg_provider, recorded_events, refuse_marking_deleted, settings
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = create(client)
    refuse_marking_deleted(100)
    settings.RM_OPERATION_TIMEOUT = 3  # the lease taken by the DELETE

    assert client.delete(f"{TEAM_A}/{resource.pk}").status_code == 202

    resource.refresh_from_db()
    assert pg_objects(resource.backend_name) == (0, 0)  # dropped, but not recorded
    assert (resource.status, resource.operation) == ("deleting", "delete")
    assert stuck.sweep_stuck_operations(timeout=3600) == []  # still leased
    refuse_marking_deleted(0)  # the database works again
    time.sleep(max((resource.lease_expires_at - timezone.now()).total_seconds(), 0) + 0.1)

    [requeued] = stuck.sweep_stuck_operations(timeout=3600)

    assert requeued.pk == resource.pk
    resource.refresh_from_db()
    assert (resource.status, resource.lease_expires_at) == ("deleted", None)
    assert [e.name for e in recorded_events] == ["resource.created", "resource.deleted"]
