"""Deliveries: resource events handed to the consumers that match them.

``fan_out`` (an ``RM_EVENT_HANDLERS`` handler) records one ``Delivery`` per matching
consumer, idempotently per event, and asks for a drain of each of those consumers
(``consumers.drains``), which hands their due deliveries, with the consumer's own login to
the resource (``consumers.credentials``), to the consumer's builder in batches and records
the outcomes (``consumers.attempts``), with retries counted in the database. A consumer's
failure never touches the resource or its operation. ``fan_out`` also revokes the logins
of consumers the resource no longer matches. ``deliver`` attempts one delivery (the task of
messages queued per delivery).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from consumers import attempts, breaker, drains
from consumers.builders.registry import builder_class
from consumers.credentials import holder_of, revoke_unmatched
from consumers.matching import matches
from consumers.models import Consumer, Delivery
from resourcemanager.identity.roles import SYSTEM, Action
from resourcemanager.outbox import events, relay
from resourcemanager.resources.models import CONSUMER_HOLDER, Resource
from resourcemanager.telemetry import metrics

logger = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome
Status = Delivery.Status


class RetryDelivery(Exception):
    """A transient delivery failure; the task tries again after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


def fan_out(event: events.Event) -> None:
    """Event handler: one delivery per matching consumer of the event's scope, then a
    drain of each of those consumers. Idempotent: the same event again makes no delivery
    twice, and asks for drains of the consumers whose deliveries were never attempted."""
    enabled = list(Consumer.objects.visible_to(SYSTEM, Action.VIEW_CONSUMER, event.scope)
                   .filter(enabled=True))
    if not enabled and event.name in events.CREDENTIAL_EVENTS:
        return  # nobody to tell, and a credential's event changes no match
    try:  # not first(): its ORDER BY costs composing more than the row costs reading
        resource = Resource.objects.select_related("provider").get(pk=event.resource.get("id"))
    except Resource.DoesNotExist:
        logger.warning("event #%s names no known resource; not delivered", event.id)
        return
    provider_class = resource.provider.provider_class
    with transaction.atomic():
        # One INSERT for all; those of an earlier hand-over of the event stay as they are.
        Delivery.objects.bulk_create([
            Delivery(consumer=consumer, event_id=event.id, event=name,
                     resource_id=resource.pk, resource=event.resource,
                     credential=event.credential if name in events.CREDENTIAL_EVENTS else {},
                     provider_class=provider_class, actor=event.actor,
                     occurred_at=event.occurred_at)
            for consumer in enabled
            if matches(consumer, event.resource, provider_class)
            and (name := _delivered_as(event, consumer))
        ], ignore_conflicts=True)
        if event.name != events.DELETED and event.name not in events.CREDENTIAL_EVENTS:
            # A deletion revokes every credential itself; a credential's own events
            # change no match.
            revoke_unmatched(resource)
        never_tried = Delivery.objects.filter(
            event_id=event.id, consumer__scope=event.scope, status=Status.PENDING, attempts=0
        )
        drains.request(never_tried.values_list("consumer_id", flat=True))


def _delivered_as(event: events.Event, consumer: Consumer) -> str:
    """The event ``consumer`` is given for ``event``, or "" for none. A consumer whose own
    login was rotated gets the resource again (``resource.updated``, with the new login,
    before the replaced one goes); the others learn of credentials only if their builder
    takes ``credential.*`` events."""
    if event.name not in events.CREDENTIAL_EVENTS:
        return event.name
    if event.holder.startswith(CONSUMER_HOLDER):  # a consumer's own: for it alone
        rotated_mine = event.name == events.CREDENTIAL_ROTATED and (
            holder_of(consumer) == event.holder)
        return events.UPDATED if rotated_mine else ""
    try:
        takes_them = builder_class(consumer.builder).credential_events
    except LookupError:
        takes_them = False
    return event.name if takes_them else ""


def deliver(delivery_id: int, *, in_process: bool, backoff: attempts.Backoff) -> None:
    """Hand one delivery to its consumer's builder and record the outcome.

    No transaction is open while the consumer is called: the attempt is claimed (counted
    and leased, committed at once), the builder talks to the tool, and the outcome is
    recorded (``attempts.record``) if the lease is still this attempt's. A transient
    failure, such as the consumer's own login still being issued, raises
    ``RetryDelivery`` (to be tried again ``backoff(attempt)`` seconds later) until
    ``RM_CONSUMER_MAX_RETRIES`` retries are spent, counted in the database, or
    ``in_process`` (no queue to wait in); then, as any other failure, the delivery is
    ``failed`` with the reason. One query reads the delivery, its consumer and the
    resource's stored credentials (decrypted only for a builder that sends credentials).
    A delivery to a consumer that is failing waits its turn, no attempt counted
    (``consumers.breaker``).
    """
    delivery = _pending(delivery_id)
    if delivery is None:
        return
    if (wait := breaker.wait_before(delivery.consumer)) is not None:
        if in_process:  # no queue to wait in: one attempt each, as for any failure
            _finish(delivery, Status.FAILED, breaker.why_waiting(delivery.consumer, wait))
            return
        _defer(delivery, wait)
        raise RetryDelivery("the consumer is held back", delay=wait)
    if not _claim(delivery):
        return
    outcome = attempts.attempt(delivery, attempts.builder_for(delivery.consumer))
    retry_in = attempts.record(delivery.consumer, [outcome], delivery.lease_expires_at,
                               in_process=in_process, backoff=backoff)
    if retry_in is not None:
        raise RetryDelivery(outcome.error, delay=retry_in)


def _pending(delivery_id: int) -> Delivery | None:
    """The delivery with its consumer, if an attempt is due; None when there is nothing
    to do (delivered, skipped, or an attempt under way). It carries
    ``stored_credentials``, the resource's column as stored (None: the resource has none,
    or is gone)."""
    now = timezone.now()
    try:  # not first(): its ORDER BY costs composing more than the row costs reading
        delivery = attempts.with_stored_credentials(
            Delivery.objects.select_related("consumer")
        ).get(pk=delivery_id, status=Status.PENDING)
    except Delivery.DoesNotExist:
        return None  # delivered meanwhile, or its consumer was deleted
    if delivery.lease_expires_at is not None and delivery.lease_expires_at > now:
        return None  # the attempt under way records the outcome
    if not delivery.consumer.enabled:
        _finish(delivery, Status.SKIPPED, "the consumer was disabled")
        return None
    return delivery


def _claim(delivery: Delivery) -> bool:
    """Count and lease the next attempt of ``delivery``; False when another attempt
    claimed it first. One conditional UPDATE, no lock held: every claim counts an
    attempt, so the UPDATE finding the count it read means no other claimed it meanwhile.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=settings.RM_OPERATION_TIMEOUT)
    if not _unchanged(delivery, delivery.attempts).update(
        attempts=F("attempts") + 1, lease_expires_at=lease, updated_at=now
    ):
        return False
    delivery.attempts += 1
    delivery.lease_expires_at, delivery.updated_at = lease, now
    return True


def _defer(delivery: Delivery, seconds: float) -> None:
    """Let the delivery wait ``seconds`` for its paused consumer, no attempt counted."""
    now = timezone.now()
    _unchanged(delivery, delivery.attempts).update(
        next_attempt_at=now + timedelta(seconds=seconds), updated_at=now)


def _unchanged(delivery: Delivery, attempt: int) -> QuerySet[Delivery]:
    """The delivery, if still pending with ``attempt`` attempts (no other claimed it)."""
    return Delivery.objects.filter(pk=delivery.pk, status=Status.PENDING, attempts=attempt)


def register_existing(consumer: Consumer, actor: str) -> int:
    """Queue a ``resource.created`` delivery to ``consumer`` per ready matching resource."""
    resources = (
        Resource.objects.visible_to(SYSTEM, Action.VIEW_RESOURCE, consumer.scope)
        .filter(status=Resource.Status.READY)
        .select_related("provider")
    )
    now = timezone.now()
    queued = []
    for resource in resources:
        description = relay.describe(resource)
        provider_class = resource.provider.provider_class
        if matches(consumer, description, provider_class):
            queued.append(Delivery.objects.create(
                consumer=consumer, event=events.CREATED, resource_id=resource.pk,
                resource=description, provider_class=provider_class, actor=actor,
                occurred_at=now,
            ).pk)
    if queued:
        drains.request([consumer.pk])
    return len(queued)


def requeue_stalled(timeout: float | None = None) -> int:
    """Queue again pending deliveries untouched for ``timeout`` seconds (default
    ``RM_OPERATION_TIMEOUT``) and not waiting for a retry: their drain was never queued
    (broker down) or got lost, or their attempt's lease expired. Each is audited; their
    consumers' drains are queued again."""
    timeout = settings.RM_OPERATION_TIMEOUT if timeout is None else timeout
    now = timezone.now()
    stalled = Delivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now),
        status=Status.PENDING, updated_at__lt=now - timedelta(seconds=timeout),
    ).select_related("consumer")
    requeued, consumer_ids = 0, set()
    with transaction.atomic():
        for delivery in stalled.select_for_update(of=("self",), skip_locked=True):
            delivery.lease_expires_at = None  # an attempt finishing late is not recorded
            delivery.save(update_fields=["lease_expires_at", "updated_at"])
            audit_consumer(SYSTEM.name, "consumer.deliver", Outcome.ACCEPTED,
                           delivery.consumer, f"{attempts.describe(delivery)} queued again: "
                           f"untouched for {int(timeout)} s")
            requeued += 1
            consumer_ids.add(delivery.consumer_id)
    drains.queue(consumer_ids, again=True)
    if requeued:
        logger.warning("queued %d stalled consumer deliveries again", requeued)
    return requeued


def _finish(delivery: Delivery, status: str, reason: str) -> None:
    """Close an unclaimed delivery, ``failed`` or ``skipped`` for ``reason``, if no attempt
    claimed it meanwhile."""
    now = timezone.now()
    changes: dict[str, object] = {"status": status, "next_attempt_at": None,
                                  "lease_expires_at": None, "updated_at": now}
    if status == Status.FAILED:
        changes.update(last_error=reason, last_error_at=now)
    else:
        changes["skip_reason"] = reason
    if not _unchanged(delivery, delivery.attempts).update(**changes):
        return
    for name, value in changes.items():
        setattr(delivery, name, value)
    metrics.consumer_delivery(delivery.consumer.builder, status)
    if status == Status.FAILED:
        logger.warning("delivery %s to consumer %s failed: %s",
                       delivery.pk, delivery.consumer_id, reason)
        audit_consumer(SYSTEM.name, "consumer.deliver", Outcome.FAILURE, delivery.consumer,
                       f"{attempts.describe(delivery)}: {reason}")


def audit_consumer(
    actor: str, action: str, outcome: str, consumer: Consumer, message: str = ""
) -> None:
    """The audit entry of an action on ``consumer``."""
    record(actor, action, outcome, scope=consumer.scope, target=consumer, message=message)
