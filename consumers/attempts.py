"""Attempts of deliveries and the recording of their outcomes, shared by the consumer's
drain (``consumers.drains``, which attempts a batch) and the task of a single delivery
(``consumers.deliveries.deliver``).

An attempt is claimed beforehand with a lease (``lease_expires_at``), the same value for
every delivery of a batch: an outcome is recorded only where the lease is still the one
the attempt claimed with, so an attempt that outlived its lease, and was claimed again
or queued again meanwhile, records nothing. Outcomes are recorded together, in one short
transaction: one UPDATE for the deliveries delivered, one per failure or retry (rare),
the audit entries in one INSERT.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery, TextField
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record_many
from consumers import breaker
from consumers.builders.base import ConsumerBuilder, DeliveryError, ResourceEvent
from consumers.credentials import retire_older, with_own_credential
from consumers.matching import builder_of
from consumers.models import Consumer, Delivery
from providers.adapters.base import Credentials
from resourcemanager.core.dbretry import in_short_transaction
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.outbox import events
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.telemetry import metrics

logger = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome
Status = Delivery.Status
#: Delivered without the resource's credentials: it is gone, or the event is about
#: another credential of it.
WITHOUT_CREDENTIALS = frozenset({events.DELETED, *events.CREDENTIAL_EVENTS})
#: ``backoff(attempt)``: seconds before the retry after the ``attempt``-th failed one.
Backoff = Callable[[int], float]


@dataclass
class Attempt:
    """What one attempt of ``delivery`` came to: ``error`` (``transient`` if worth
    retrying), else delivered, with ``own``, the consumer's credential the tool now holds;
    ``skipped``: not attempted, and why."""

    delivery: Delivery
    error: str = ""
    transient: bool = False
    own: Credential | None = None
    skipped: str = ""


def builder_for(consumer: Consumer) -> ConsumerBuilder | None:
    """The consumer's builder; None for a builder this version does not know."""
    try:
        return builder_of(consumer)
    except LookupError:
        return None


def attempt(delivery: Delivery, builder: ConsumerBuilder | None) -> Attempt:
    """Hand a claimed delivery to ``builder`` (no transaction is open meanwhile)."""
    outcome = Attempt(delivery)
    if builder is None:
        outcome.error = f"unknown builder {delivery.consumer.builder!r}"
        return outcome
    if delivery.event not in WITHOUT_CREDENTIALS and delivery.stored_credentials is None:
        outcome.skipped = "the resource has no credentials any more"
        return outcome
    try:
        event = event_of(delivery, with_credentials=builder.wants_credentials())
        event, outcome.own = with_own_credential(delivery.consumer, builder,
                                                 delivery.resource_id, event)
        builder.deliver(event)
    except DeliveryError as exc:
        outcome.error, outcome.transient = exc.message, exc.transient
    except Exception as exc:  # a builder's bug must not stop the queue
        # The exception's text may hold a URL or an answer: only its type is kept.
        outcome.error = (f"unexpected {type(exc).__name__} in the "
                         f"{delivery.consumer.builder} builder")
    return outcome


def with_stored_credentials(deliveries: QuerySet[Delivery]) -> QuerySet[Delivery]:
    """``deliveries``, each carrying ``stored_credentials``: its resource's column as
    stored (None: the resource has none, or is gone)."""
    stored = Resource.objects.filter(pk=OuterRef("resource_id")).values("credentials")[:1]
    return deliveries.annotate(stored_credentials=Subquery(stored, output_field=TextField()))


def event_of(delivery: Delivery, *, with_credentials: bool) -> ResourceEvent:
    """The builder's view of a claimed delivery; ``with_credentials``, with the resource's
    credentials as the claim read them (``stored_credentials``; the consumer's own replace
    them when delivering; a deletion is delivered without)."""
    credentials = None
    if with_credentials and delivery.event not in WITHOUT_CREDENTIALS:
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


def record(consumer: Consumer, attempts: list[Attempt], lease: datetime, *,
           in_process: bool, backoff: Backoff, attempted: bool = True) -> float | None:
    """Record the outcomes of ``attempts``, claimed with ``lease``, in one short
    transaction, and note the consumer's last answer to its breaker (unless nothing was
    ``attempted``). A transient failure is retried, ``backoff(attempt)`` seconds later,
    until ``RM_CONSUMER_MAX_RETRIES`` retries are spent or ``in_process`` (no queue to wait
    in); then it fails as any other. Returns the delay of a retry, None for none."""
    retries = [each for each in attempts if each.transient and not in_process
               and each.delivery.attempts <= settings.RM_CONSUMER_MAX_RETRIES]

    def write() -> float | None:
        now = timezone.now()
        delays = [_note_retry(each, lease, backoff(each.delivery.attempts), now)
                  for each in retries]
        closed = [each for each in attempts if each not in retries]
        entries = _close(consumer, closed, lease, now)
        if entries:
            record_many(SYSTEM.name, "consumer.deliver", entries, scope=consumer.scope,
                        target=consumer)
        for each in closed:
            if each.own is not None and not each.error and not each.skipped:
                retire_older(each.own)  # the tool holds it: the logins it replaced can go
        tried = [each for each in attempts if not each.skipped]
        if attempted and tried:
            breaker.note_outcome(consumer, transient_failure=tried[-1].transient)
        return min((delay for delay in delays if delay is not None), default=None)

    return in_short_transaction(write, what=f"deliveries to consumer {consumer.pk}")


def _ours(ids: list[int], lease: datetime):
    """The deliveries of ``ids`` still pending under ``lease`` (no other claimed them)."""
    return Delivery.objects.filter(pk__in=ids, status=Status.PENDING, lease_expires_at=lease)


def _note_retry(each: Attempt, lease: datetime, retry_in: float, now: datetime
                ) -> float | None:
    """Keep the failed attempt's reason and release its lease until the retry."""
    delivery = each.delivery
    if not _ours([delivery.pk], lease).update(
        last_error=each.error, last_error_at=now, lease_expires_at=None, updated_at=now,
        next_attempt_at=now + timedelta(seconds=retry_in),
    ):
        return None
    logger.warning("delivery %s to consumer %s will be retried: %s",
                   delivery.pk, delivery.consumer_id, each.error)
    metrics.consumer_delivery(delivery.consumer.builder, "retry")
    return retry_in


def _close(consumer: Consumer, closed: list[Attempt], lease: datetime, now: datetime
           ) -> list[tuple[str, str]]:
    """Close the deliveries of ``closed`` still claimed by ``lease``; returns the audit
    entries (outcome, message) of those delivered and failed. A success keeps the error
    of an earlier attempt, with its time."""
    entries: list[tuple[str, str]] = []
    done = {"next_attempt_at": None, "lease_expires_at": None, "updated_at": now}
    delivered = [each for each in closed if not each.error and not each.skipped]
    ids = [each.delivery.pk for each in delivered]
    if ids:
        changed = _ours(ids, lease).update(status=Status.DELIVERED, delivered_at=now, **done)
        if changed < len(ids):  # some were claimed again meanwhile: only ours count
            mine = set(Delivery.objects.filter(pk__in=ids, status=Status.DELIVERED,
                                               delivered_at=now).values_list("pk", flat=True))
            delivered = [each for each in delivered if each.delivery.pk in mine]
        for each in delivered:
            each.delivery.status = Status.DELIVERED
            entries.append((Outcome.SUCCESS, describe(each.delivery)))
            metrics.consumer_delivery(consumer.builder, Status.DELIVERED)
    for each in closed:
        if each.skipped and _ours([each.delivery.pk], lease).update(
                status=Status.SKIPPED, skip_reason=each.skipped, **done):
            metrics.consumer_delivery(consumer.builder, Status.SKIPPED)
        elif each.error and _ours([each.delivery.pk], lease).update(
                status=Status.FAILED, last_error=each.error, last_error_at=now, **done):
            each.delivery.status = Status.FAILED
            metrics.consumer_delivery(consumer.builder, Status.FAILED)
            logger.warning("delivery %s to consumer %s failed: %s",
                           each.delivery.pk, consumer.pk, each.error)
            entries.append((Outcome.FAILURE, f"{describe(each.delivery)}: {each.error}"))
    return entries


def describe(delivery: Delivery) -> str:
    resource = delivery.resource
    return f"{delivery.event} of {resource.get('name')} ({resource.get('id')})"
