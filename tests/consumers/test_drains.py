"""A consumer's drain: its due deliveries claimed in a batch, attempted in order with one
builder, and their outcomes recorded together; a transient failure ends the batch."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEntry
from consumers import drains
from consumers.builders.webhook import WebhookBuilder
from consumers.models import Consumer, Delivery
from resourcemanager.outbox import queueing
from tests.consumers.conftest import in_30s, pending_delivery
from tests.consumers.test_delivery_claims import statements


def more_like(delivery: Delivery, count: int) -> list[Delivery]:
    """``count`` more pending deliveries of the same resource to the same consumer."""
    return [Delivery.objects.create(
        consumer_id=delivery.consumer_id, event="resource.updated",
        resource_id=delivery.resource_id, resource=delivery.resource,
        provider_class=delivery.provider_class, occurred_at=timezone.now(),
    ) for _ in range(count)]


def test_a_drain_delivers_a_batch_with_a_statement_or_two_for_all(
    owner, pg_provider, webhook_server
) -> None:
    first = pending_delivery(owner, webhook_server)
    others = more_like(first, 9)

    with CaptureQueriesContext(connection) as captured:
        again = drains.drain(first.consumer_id, in_process=False, backoff=in_30s)

    assert again is None
    # The hold (the mark emptied); the consumer; the batch, locked, and its claim; the
    # outcomes and their audit entries; letting go.
    assert statements(captured) == ["UPDATE", "SELECT", "SELECT", "UPDATE", "UPDATE",
                                    "INSERT", "UPDATE"]
    assert webhook_server.events() == ["resource.created"] + ["resource.updated"] * 9
    ids = [first.pk, *(each.pk for each in others)]
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", "attempts")) == {
        ("delivered", 1)}
    assert AuditEntry.objects.filter(action="consumer.deliver", outcome="success").count() == 10


def test_a_transient_failure_ends_the_batch_and_releases_the_rest(
    owner, pg_provider, webhook_server
) -> None:
    first = pending_delivery(owner, webhook_server)
    second, third = more_like(first, 2)
    webhook_server.statuses = [204, 503]

    again = drains.drain(first.consumer_id, in_process=False, backoff=in_30s)

    assert 25 < again <= 30  # when the failed one is due again
    states = {each.pk: each for each in Delivery.objects.filter(consumer=first.consumer_id)}
    assert (states[first.pk].status, states[first.pk].attempts) == ("delivered", 1)
    failed = states[second.pk]
    assert (failed.status, failed.attempts, failed.lease_expires_at) == ("pending", 1, None)
    assert "503" in failed.last_error and failed.next_attempt_at is not None
    untried = states[third.pk]
    assert (untried.status, untried.attempts, untried.lease_expires_at) == ("pending", 0, None)
    assert len(webhook_server.requests) == 2
    assert Consumer.objects.get(pk=first.consumer_id).failures_in_a_row == 1


def test_a_held_back_consumer_gets_one_delivery_per_batch(
    owner, pg_provider, webhook_server
) -> None:
    first = pending_delivery(owner, webhook_server)
    more_like(first, 3)
    Consumer.objects.filter(pk=first.consumer_id).update(failures_in_a_row=1)
    webhook_server.statuses = [503]

    drains.drain(first.consumer_id, in_process=False, backoff=in_30s)

    assert len(webhook_server.requests) == 1
    assert list(Delivery.objects.filter(consumer=first.consumer_id).order_by("pk")
                .values_list("attempts", flat=True)) == [1, 0, 0, 0]


def test_a_drain_is_queued_once_while_one_waits(
    owner, pg_provider, webhook_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer_id = pending_delivery(owner, webhook_server).consumer_id
    sent = []
    monkeypatch.setattr(queueing, "send", lambda name, kwargs, **options: sent.append(kwargs))

    assert drains.queue([consumer_id]) == 1
    assert drains.queue([consumer_id]) == 0
    assert drains.queue([consumer_id], again=True) == 1
    drains.drain(consumer_id, in_process=False, backoff=in_30s)  # empties the mark
    assert drains.queue([consumer_id]) == 1

    assert sent == [{"consumer_id": str(consumer_id)}] * 3


def test_a_batch_stops_once_half_its_lease_is_gone_and_the_drain_goes_on(
    owner, pg_provider, webhook_server, settings
) -> None:
    """Deliveries waiting their turn in a slow batch would outlive their lease."""
    if connection.vendor != "postgresql":
        pytest.skip("a batch is counted by its claim's FOR UPDATE, which SQLite has not")
    first = pending_delivery(owner, webhook_server)
    more_like(first, 2)
    settings.RM_OPERATION_TIMEOUT = 0  # half of it is gone after the first attempt

    with CaptureQueriesContext(connection) as captured:
        again = drains.drain(first.consumer_id, in_process=False, backoff=in_30s)

    assert again is None
    claims = [query for query in captured.captured_queries
              if query["sql"].startswith('SELECT "consumers_delivery"')
              and "FOR UPDATE" in query["sql"]]
    assert len(claims) == 3  # a batch each: the rest released after every attempt
    assert list(Delivery.objects.filter(consumer=first.consumer_id).order_by("pk")
                .values_list("status", "attempts")) == [
        ("delivered", 1), ("delivered", 1), ("delivered", 1)]


def test_a_drain_finding_another_one_at_work_ends_and_that_one_goes_on(
    owner, pg_provider, webhook_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One drain per consumer at a time: a delivery made while one runs is its to take."""
    first = pending_delivery(owner, webhook_server)
    consumer = Consumer.objects.filter(pk=first.consumer_id)
    send, made = WebhookBuilder.deliver, []

    def meanwhile(builder, event) -> None:
        send(builder, event)
        if not made:  # an event while the drain runs: a delivery, and a drain asked for
            made.extend(more_like(first, 1))
            consumer.update(drain_queued_at=timezone.now())
            assert drains.drain(first.consumer_id, in_process=False, backoff=in_30s) is None
            assert len(webhook_server.requests) == 1  # it ended: this one is at work

    monkeypatch.setattr(WebhookBuilder, "deliver", meanwhile)

    assert drains.drain(first.consumer_id, in_process=False, backoff=in_30s) is None

    assert webhook_server.events() == ["resource.created", "resource.updated"]
    assert list(Delivery.objects.filter(consumer=first.consumer_id).values_list(
        "status", flat=True)) == ["delivered", "delivered"]
    assert consumer.values_list("drain_queued_at", "draining_until").get() == (None, None)
