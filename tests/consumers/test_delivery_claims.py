"""A delivery's attempt: claimed and recorded with conditional UPDATEs on rows read once,
and recorded only while no other attempt has claimed the delivery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEntry
from consumers import deliveries
from consumers.builders.webhook import WebhookBuilder
from consumers.models import Delivery
from resourcemanager.core import crypto
from tests.consumers.test_delivery_status import in_30s, pending_delivery
from tests.support.audit_sealing import without_sealing


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The first word of each statement sent, savepoints (the test's transaction) and the
    audit entry's seal, in a transaction with its insert, aside."""
    verbs = [query["sql"].split(None, 1)[0].upper()
             for query in without_sealing(captured.captured_queries)]
    return [verb for verb in verbs if verb not in ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")]


def test_a_webhook_delivery_reads_its_rows_once_and_decrypts_once(
    owner, pg_provider, webhook_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = pending_delivery(owner, webhook_server)
    decrypted = []
    decrypt_json = crypto.decrypt_json
    monkeypatch.setattr(crypto, "decrypt_json",
                        lambda token: decrypted.append(1) or decrypt_json(token))

    with CaptureQueriesContext(connection) as captured:
        deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)

    # The delivery with its consumer; the claim; the outcome; its audit entry.
    assert statements(captured) == ["SELECT", "UPDATE", "UPDATE", "INSERT"]
    assert len(decrypted) == 1  # the consumer's properties; the resource's are not sent
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.lease_expires_at) == (
        "delivered", 1, None)
    assert webhook_server.events() == ["resource.created"]


def test_an_outcome_after_another_attempt_claimed_the_delivery_is_not_recorded(
    owner, pg_provider, webhook_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt outlives its lease; another claims the delivery meanwhile (a
    claim counts an attempt and leases it anew)."""
    delivery = pending_delivery(owner, webhook_server)
    send = WebhookBuilder.deliver

    def slow(builder, event) -> None:
        send(builder, event)
        Delivery.objects.filter(pk=delivery.pk).update(
            attempts=F("attempts") + 1, lease_expires_at=timezone.now() + timedelta(minutes=5))

    monkeypatch.setattr(WebhookBuilder, "deliver", slow)

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("pending", 2, None)
    assert not AuditEntry.objects.filter(action="consumer.deliver").exists()


def test_a_delivery_under_way_is_not_claimed_again(owner, pg_provider, webhook_server
                                                   ) -> None:
    delivery = pending_delivery(owner, webhook_server)
    webhook_server.statuses = [503]
    with pytest.raises(deliveries.RetryDelivery):
        deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)
    leased = deliveries._pending(delivery.pk)
    assert leased is not None and deliveries._claim(leased) and leased.attempts == 2

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_30s)  # a duplicate task

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 2)
    assert len(webhook_server.requests) == 1
