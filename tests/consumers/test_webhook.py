"""The webhook builder against a real local HTTP server, with resource events from the real
lifecycle (tasks run in-process): body, signature, credentials, retries, failures."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from consumers import deliveries
from consumers.models import Delivery
from consumers.tasks import deliver as deliver_task
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources.models import Credential
from tests.consumers.conftest import (
    SECRET,
    TEAM_A,
    add_webhook,
    create_resource,
    in_30s,
    pending_delivery,
)


def verify(received) -> bool:
    """The receiver's side of the scheme documented in the README."""
    timestamp = received.headers["X-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + received.body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["X-Signature"], f"sha256={expected}")


def test_a_created_resource_is_posted_signed_without_credentials(
    owner, pg_provider, webhook_server
):
    add_webhook(owner, webhook_server)

    resource = create_resource(owner, tags=["analytics"])

    [received] = webhook_server.requests
    body = received.json()
    message = OutboxMessage.objects.get(resource_id=resource["id"], name="resource.created")
    assert received.path == "/hook"
    assert received.headers["Content-Type"] == "application/json"
    assert verify(received)
    assert abs(int(received.headers["X-Timestamp"]) - time.time()) < 60
    assert body["id"] == message.pk
    assert received.headers["Idempotency-Key"] == str(message.pk)
    assert body["event"] == "resource.created"
    assert body["scope"] == "team-a"
    assert body["occurred_at"].startswith(str(message.created_at.date()))
    assert body["resource"] == {
        "id": resource["id"], "scope": "team-a", "name": "orders", "type": "sql",
        "provider": "pg", "provider_class": "postgresql", "managed": True, "status": "ready",
        "tags": ["analytics"],
    }
    assert "credentials" not in body
    assert resource["credentials"]["password"] not in received.body.decode()


def test_a_forged_or_tampered_body_fails_verification(owner, pg_provider, webhook_server):
    add_webhook(owner, webhook_server)
    create_resource(owner)
    [received] = webhook_server.requests

    received.body = received.body.replace(b"orders", b"ordersX")

    assert not verify(received)


def test_include_credentials_sends_a_login_of_the_consumer_s_own(
    owner, pg_provider, webhook_server
):
    consumer = add_webhook(owner, webhook_server, include_credentials=True)

    resource = create_resource(owner)
    owner.delete(f"{TEAM_A}/resources/{resource['id']}")

    created, deleted = webhook_server.requests
    sent, owners = created.json()["credentials"], resource["credentials"]
    own = Credential.objects.get(holder=f"consumer:{consumer['id']}")
    assert sent["username"] == own.login != owners["username"]
    assert sent["password"] != owners["password"]
    assert (sent["host"], sent["port"], sent["database"]) == (
        owners["host"], owners["port"], owners["database"])
    assert own.access == "read-only"
    assert own.status == "revoked"  # with the resource
    assert deleted.json()["event"] == "resource.deleted"
    assert "credentials" not in deleted.json()  # gone with the resource
    assert verify(deleted)


def test_every_lifecycle_event_is_delivered_in_order(owner, pg_provider, webhook_server):
    add_webhook(owner, webhook_server)

    resource = create_resource(owner)
    owner.patch(f"{TEAM_A}/resources/{resource['id']}", {"tags": ["sales"]}, format="json")
    owner.post(f"{TEAM_A}/resources/{resource['id']}/check")
    owner.delete(f"{TEAM_A}/resources/{resource['id']}")

    assert webhook_server.events() == [
        "resource.created", "resource.updated", "resource.checked", "resource.deleted"
    ]
    assert Delivery.objects.filter(status="delivered").count() == 4


def test_an_unreachable_endpoint_shows_in_the_delivery_status_and_blocks_nothing(
    owner, pg_provider
):
    consumer = owner.post(f"{TEAM_A}/consumers", {
        "builder": "webhook", "name": "down",
        "properties": {"url": "http://127.0.0.1:1/hook", "secret": SECRET},
    }, format="json").json()

    resource = create_resource(owner)  # in-process: one attempt, no retries

    assert resource["status"] == "ready"
    status = owner.get(f"{TEAM_A}/consumers/{consumer['id']}").json()["delivery_status"]
    assert status["failed"] == 1
    assert status["pending"] == 0
    assert status["last_success_at"] is None
    assert status["last_error"] == "cannot reach the webhook at 127.0.0.1"
    assert status["last_error_at"]


def test_a_500_then_a_200_ends_delivered_through_the_task_s_retry(
    owner, pg_provider, webhook_server
):
    """As in a worker (not eager): the 500 is retried with backoff, the retry succeeds."""
    delivery = pending_delivery(owner, webhook_server)
    webhook_server.statuses = [500]

    kwargs = {"delivery_id": delivery.pk}
    deliver_task.push_request(retries=0, is_eager=False, called_directly=False, args=(),
                              kwargs=kwargs)  # as a worker runs it
    try:
        with pytest.raises(Retry):  # the retry itself ran at once (eager queue)
            deliver_task.run(**kwargs)
    finally:
        deliver_task.pop_request()

    delivery.refresh_from_db()
    assert [r.json()["id"] for r in webhook_server.requests] == [-delivery.pk] * 2
    assert [r.headers["Idempotency-Key"] for r in webhook_server.requests] == [
        str(-delivery.pk)] * 2  # the same on the retry
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert delivery.last_error == "the webhook at 127.0.0.1 answered HTTP 500"
    assert delivery.delivered_at is not None


def test_transient_failures_are_retried_and_permanent_ones_are_not(
    owner, pg_provider, webhook_server
):
    delivery = pending_delivery(owner, webhook_server)
    webhook_server.statuses = [503, 400]

    with pytest.raises(deliveries.RetryDelivery):
        deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at > timezone.now()

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)  # 400: not retried
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert delivery.last_error == "the webhook at 127.0.0.1 answered HTTP 400"

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)  # a redelivered task
    assert len(webhook_server.requests) == 2
