"""Deliveries: resource events handed to the consumers that match them.

``fan_out`` (an ``RM_EVENT_HANDLERS`` handler) records one ``Delivery`` per matching
consumer, idempotently per event, and queues a ``consumers.deliver`` task for each;
``deliver`` hands the event, with the consumer's own login to the resource
(``consumers.credentials``), to the consumer's builder and records the outcome, with
retries counted in the database. A consumer's failure never touches the resource or its
operation. ``fan_out`` also revokes the logins of consumers the resource no longer matches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, TextField
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from consumers import breaker
from consumers.builders.base import DeliveryError, ResourceEvent
from consumers.builders.registry import builder_class
from consumers.credentials import (
    holder_of,
    retire_older,
    revoke_unmatched,
    with_own_credential,
)
from consumers.matching import builder_of, matches
from consumers.models import Consumer, Delivery
from providers.adapters.base import Credentials
from resourcemanager.core.dbretry import in_short_transaction
from resourcemanager.identity.roles import SYSTEM, Action
from resourcemanager.outbox import events, queueing, relay
from resourcemanager.resources.models import CONSUMER_HOLDER, Resource
from resourcemanager.telemetry import metrics

logger = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome
Status = Delivery.Status
#: Delivered without the resource's credentials: it is gone, or the event is about
#: another credential of it.
_WITHOUT_CREDENTIALS = frozenset({events.DELETED, *events.CREDENTIAL_EVENTS})


class RetryDelivery(Exception):
    """A transient delivery failure; the task tries again after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


def fan_out(event: events.Event) -> None:
    """Event handler: one delivery per matching consumer of the event's scope, then a task
    each. Idempotent: the same event again queues only deliveries never attempted."""
    resource = Resource.objects.select_related("provider").filter(
        pk=event.resource.get("id")
    ).first()
    if resource is None:
        logger.warning("event #%s names no known resource; not delivered", event.id)
        return
    provider_class = resource.provider.provider_class
    with transaction.atomic():
        consumers = Consumer.objects.visible_to(SYSTEM, Action.VIEW_CONSUMER, event.scope)
        # One INSERT for all; those of an earlier hand-over of the event stay as they are.
        Delivery.objects.bulk_create([
            Delivery(consumer=consumer, event_id=event.id, event=name,
                     resource_id=resource.pk, resource=event.resource,
                     credential=event.credential if name in events.CREDENTIAL_EVENTS else {},
                     provider_class=provider_class, actor=event.actor,
                     occurred_at=event.occurred_at)
            for consumer in consumers.filter(enabled=True)
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
        _queue_on_commit(never_tried.values_list("pk", flat=True))


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


def deliver(delivery_id: int, *, in_process: bool, backoff: Callable[[int], float]) -> None:
    """Hand one delivery to its consumer's builder and record the outcome.

    No transaction is open while the consumer is called: the attempt is claimed (counted
    and leased, committed at once), the builder talks to the tool, and the outcome is
    recorded in a short transaction if the attempt count still names this attempt (a
    success also revokes the consumer's logins to the resource that the one delivered
    replaces). A transient failure, such as the consumer's own login still being issued,
    raises ``RetryDelivery`` (to be tried again ``backoff(attempt)`` seconds later) until
    ``RM_CONSUMER_MAX_RETRIES`` retries are spent, counted in the database, or
    ``in_process`` (no queue to wait in); then, as any other failure, the delivery is
    ``failed`` with the reason. The rows are read once: one query reads the delivery, its
    consumer and the resource's stored credentials (decrypted only for a builder that
    sends credentials), and each step writes with one conditional UPDATE. A delivery to a
    consumer that is failing waits its turn, no attempt counted (``consumers.breaker``).
    """
    delivery = _pending(delivery_id)
    if delivery is None:
        return
    if (wait := breaker.wait_before(delivery.consumer)) is not None:
        if in_process:  # no queue to wait in: one attempt each, as for any failure
            _finish(delivery, delivery.attempts, Status.FAILED,
                    breaker.why_waiting(delivery.consumer, wait))
            return
        _defer(delivery, wait)
        raise RetryDelivery("the consumer is held back", delay=wait)
    if not _claim(delivery):
        return
    attempt = delivery.attempts
    error, transient, own = "", False, None
    try:
        builder = builder_of(delivery.consumer)
        event = _event_of(delivery, with_credentials=builder.wants_credentials())
        event, own = with_own_credential(delivery.consumer, builder, delivery.resource_id,
                                         event)
        builder.deliver(event)
    except DeliveryError as exc:
        error, transient = exc.message, exc.transient
    except LookupError:
        error = f"unknown builder {delivery.consumer.builder!r}"
    except Exception as exc:  # a builder's bug must not stop the queue
        # The exception's text may hold a URL or an answer: only its type is kept.
        error = f"unexpected {type(exc).__name__} in the {delivery.consumer.builder} builder"
    retry_in = None
    if transient and not in_process and attempt <= settings.RM_CONSUMER_MAX_RETRIES:
        retry_in = backoff(attempt)

    def record() -> None:
        # Nothing happens when its consumer was deleted or a later attempt took over.
        if retry_in is not None:
            _note_retry(delivery, attempt, error, retry_in)
        elif error:
            _finish(delivery, attempt, Status.FAILED, error)
        elif _finish(delivery, attempt, Status.DELIVERED) and own is not None:
            retire_older(own)  # the tool holds it now: the logins it replaced can go
        breaker.note_outcome(delivery.consumer, transient_failure=transient)

    in_short_transaction(record, what=f"delivery {delivery_id}")
    if retry_in is not None:
        raise RetryDelivery(error, delay=retry_in)


def _pending(delivery_id: int) -> Delivery | None:
    """The delivery with its consumer, if an attempt is due; None when there is nothing
    to do (delivered, skipped, or an attempt under way). It carries
    ``stored_credentials``, the resource's column as stored (None: the resource has none,
    or is gone)."""
    now = timezone.now()
    stored = Resource.objects.filter(pk=OuterRef("resource_id")).values("credentials")[:1]
    try:  # not first(): its ORDER BY costs composing more than the row costs reading
        delivery = (
            Delivery.objects.select_related("consumer")
            .annotate(stored_credentials=Subquery(stored, output_field=TextField()))
            .get(pk=delivery_id, status=Status.PENDING)
        )
    except Delivery.DoesNotExist:
        return None  # delivered meanwhile, or its consumer was deleted
    if delivery.lease_expires_at is not None and delivery.lease_expires_at > now:
        return None  # the attempt under way records the outcome
    if not delivery.consumer.enabled:
        _finish(delivery, delivery.attempts, Status.SKIPPED, "the consumer was disabled")
        return None
    if delivery.event not in _WITHOUT_CREDENTIALS and delivery.stored_credentials is None:
        _finish(delivery, delivery.attempts, Status.SKIPPED,
                "the resource has no credentials any more")
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
    _queue_on_commit(queued)
    return len(queued)


def requeue_stalled(timeout: float | None = None) -> int:
    """Queue again pending deliveries untouched for ``timeout`` seconds (default
    ``RM_OPERATION_TIMEOUT``) and not waiting for a retry: their task was never queued
    (broker down) or got lost, or their attempt's lease expired. Each is audited."""
    timeout = settings.RM_OPERATION_TIMEOUT if timeout is None else timeout
    now = timezone.now()
    stalled = Delivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now),
        status=Status.PENDING, updated_at__lt=now - timedelta(seconds=timeout),
    ).select_related("consumer")
    ids = []
    with transaction.atomic():
        for delivery in stalled.select_for_update(of=("self",), skip_locked=True):
            delivery.lease_expires_at = None  # an attempt finishing late is not recorded
            delivery.save(update_fields=["lease_expires_at", "updated_at"])
            audit_consumer(SYSTEM.name, "consumer.deliver", Outcome.ACCEPTED, delivery.consumer,
                   f"{_describe(delivery)} queued again: untouched for {int(timeout)} s")
            ids.append(delivery.pk)
    _queue(ids)
    if ids:
        logger.warning("queued %d stalled consumer deliveries again", len(ids))
    return len(ids)


def _queue_on_commit(delivery_ids: Iterable[int]) -> None:
    """Queue a task per delivery once the current transaction commits. With the broker
    down they wait for ``requeue_stalled``; the request or event is not held up."""
    ids = list(delivery_ids)
    if ids:
        transaction.on_commit(lambda: _queue(ids), robust=True)


def _queue(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:  # the message headers carry the request's context
        queueing.send(queueing.DELIVER_TO_CONSUMER, {"delivery_id": delivery_id})


def _event_of(delivery: Delivery, *, with_credentials: bool) -> ResourceEvent:
    """The builder's view of a claimed delivery; ``with_credentials``, with the resource's
    credentials as the claim read them (the consumer's own replace them when delivering;
    a deletion is delivered without)."""
    credentials = None
    if with_credentials and delivery.event not in _WITHOUT_CREDENTIALS:
        column = Resource._meta.get_field("credentials")
        credentials = Credentials.from_dict(
            column.from_db_value(delivery.stored_credentials, None, connection))
    return ResourceEvent(
        # A sync's deliveries have no event: their negative number is just as stable.
        id=delivery.event_id if delivery.event_id is not None else -delivery.pk,
        name=delivery.event,
        scope=delivery.consumer.scope,
        resource=delivery.resource,
        provider_class=delivery.provider_class,
        actor=delivery.actor,
        occurred_at=delivery.occurred_at.isoformat(),
        credentials=credentials,
        credential=delivery.credential or None,
    )


def _note_retry(delivery: Delivery, attempt: int, message: str, retry_in: float) -> None:
    """Keep the failed ``attempt``'s reason and release its lease until the retry."""
    now = timezone.now()
    if not _unchanged(delivery, attempt).update(
        last_error=message, last_error_at=now, lease_expires_at=None, updated_at=now,
        next_attempt_at=now + timedelta(seconds=retry_in),
    ):
        return
    logger.warning("delivery %s to consumer %s will be retried: %s",
                   delivery.pk, delivery.consumer_id, message)
    metrics.consumer_delivery(delivery.consumer.builder, "retry")


def _finish(delivery: Delivery, attempt: int, status: str, reason: str = "") -> bool:
    """Close the delivery, if it has ``attempt`` attempts still (returns whether it did):
    ``reason`` is the error of a failed one, why a skipped one was not attempted; a
    success keeps the error of an earlier attempt, with its time."""
    now = timezone.now()
    changes: dict[str, object] = {"status": status, "next_attempt_at": None,
                                  "lease_expires_at": None, "updated_at": now}
    if status == Status.FAILED:
        changes.update(last_error=reason, last_error_at=now)
    elif status == Status.SKIPPED:
        changes["skip_reason"] = reason
    elif status == Status.DELIVERED:
        changes["delivered_at"] = now
    if not _unchanged(delivery, attempt).update(**changes):
        return False
    for name, value in changes.items():
        setattr(delivery, name, value)
    metrics.consumer_delivery(delivery.consumer.builder, status)
    if status == Status.FAILED:
        logger.warning("delivery %s to consumer %s failed: %s",
                       delivery.pk, delivery.consumer_id, reason)
    outcome = {Status.DELIVERED: Outcome.SUCCESS, Status.FAILED: Outcome.FAILURE}.get(status)
    if outcome:
        audit_consumer(SYSTEM.name, "consumer.deliver", outcome, delivery.consumer,
               _describe(delivery) + (f": {reason}" if reason else ""))
    return True


def _describe(delivery: Delivery) -> str:
    resource = delivery.resource
    return f"{delivery.event} of {resource.get('name')} ({resource.get('id')})"


def audit_consumer(
    actor: str, action: str, outcome: str, consumer: Consumer, message: str = ""
) -> None:
    """The audit entry of an action on ``consumer``."""
    record(actor, action, outcome, scope=consumer.scope, target=consumer, message=message)
