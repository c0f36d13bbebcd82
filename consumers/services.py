"""Consumers: registering tools in a scope and delivering resource events to them.

The API, the admin and the tasks all go through here. Requests check access, validate,
change the row and write the audit entry in one transaction. Events reach consumers
through ``fan_out`` (an ``RM_EVENT_HANDLERS`` handler): it records one ``Delivery`` per
matching consumer, idempotently per event, and queues a ``consumers.deliver`` task for
each; ``deliver`` hands the event to the consumer's builder and records the outcome.
A consumer's failure never touches the resource or its operation.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from consumers import destinations
from consumers.base import ConsumerBuilder, DeliveryError, ResourceEvent
from consumers.models import Consumer, Delivery
from consumers.registry import builder_class
from providers.base import Credentials
from providers.properties import MASK, PropertyError, validate
from resourcemanager import events, metrics, outbox, queueing
from resourcemanager.dbretry import in_short_transaction
from resourcemanager.errors import Conflict, InvalidInput, NotFound
from resourcemanager.models import Resource
from resourcemanager.roles import SYSTEM, Action, Principal, require
from resourcemanager.validation import validate_name, validate_scope, validate_tags

logger = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome
Status = Delivery.Status

#: Changes after which a consumer gets the scope's resources again.
RESYNC_ON = {"tags", "resource_types", "properties", "enabled"}


class RetryDelivery(Exception):
    """A transient delivery failure; the task tries again after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


# --- consumers ------------------------------------------------------------------------


def validate_consumer(
    principal: Principal | None,
    scope: str,
    *,
    builder: object,
    name: object,
    tags: object = None,
    resource_types: object = None,
    properties: object = None,
    consumer: Consumer | None = None,
) -> dict[str, Any]:
    """Check access and validate a consumer's fields without changing anything.

    ``consumer`` is the stored one for an update: its properties are merged with the new
    ones (null restores a property's default; a secret left empty or masked keeps its value).
    """
    require(principal, Action.MANAGE_CONSUMER, validate_scope(scope))
    try:
        builder_cls = builder_class(str(builder))
    except LookupError:
        raise InvalidInput(
            "no such builder (see /builders)", code="unknown_builder", field="builder"
        ) from None
    return {
        "builder": builder_cls.key,
        "name": validate_name(name),
        "tags": validate_tags(tags),
        "resource_types": _validated_types(builder_cls, resource_types),
        "properties": _validated_properties(
            builder_cls, properties, consumer.properties if consumer else None
        ),
    }


def create_consumer(
    principal: Principal,
    scope: str,
    *,
    builder: object,
    name: object,
    tags: object = None,
    resource_types: object = None,
    properties: object = None,
    enabled: bool = True,
) -> Consumer:
    """Register a consumer; an enabled one gets the scope's existing resources at once."""
    values = validate_consumer(
        principal, scope, builder=builder, name=name, tags=tags,
        resource_types=resource_types, properties=properties,
    )
    try:
        with transaction.atomic():
            consumer = Consumer.objects.create(
                scope=scope, enabled=bool(enabled), created_by_id=principal.user_id, **values
            )
            queued = _register_existing(consumer, principal.name) if consumer.enabled else 0
            _audit(principal.name, "consumer.create", Outcome.SUCCESS, consumer,
                   f"builder {consumer.builder}; {queued} resource(s) queued")
    except IntegrityError:
        raise _name_conflict() from None
    return consumer


def update_consumer(
    principal: Principal,
    consumer: Consumer,
    *,
    name: object = None,
    tags: object = None,
    resource_types: object = None,
    properties: object = None,
    enabled: bool | None = None,
) -> Consumer:
    """Change what is given. When the consumer's view of the scope changes (filters,
    properties, enabled again), the scope's resources are delivered to it again."""
    require(principal, Action.MANAGE_CONSUMER, consumer.scope)
    try:
        with transaction.atomic():
            consumer = Consumer.objects.select_for_update().filter(pk=consumer.pk).first()
            if consumer is None:
                raise NotFound("no such consumer in this scope")
            values = validate_consumer(
                principal,
                consumer.scope,
                builder=consumer.builder,
                name=consumer.name if name is None else name,
                tags=consumer.tags if tags is None else tags,
                resource_types=consumer.resource_types
                if resource_types is None else resource_types,
                properties=properties,
                consumer=consumer,
            )
            if enabled is not None:
                values["enabled"] = bool(enabled)
            changed = sorted(k for k, v in values.items() if getattr(consumer, k) != v)
            for key, value in values.items():
                setattr(consumer, key, value)
            consumer.save()
            queued = 0
            if consumer.enabled and RESYNC_ON & set(changed):
                queued = _register_existing(consumer, principal.name)
            _audit(principal.name, "consumer.update", Outcome.SUCCESS, consumer,
                   f"changed: {', '.join(changed) or 'nothing'}; {queued} resource(s) queued")
    except IntegrityError:
        raise _name_conflict() from None
    return consumer


def delete_consumer(principal: Principal, consumer: Consumer) -> None:
    """Forget the consumer and its deliveries; the tool itself is left as it is."""
    require(principal, Action.MANAGE_CONSUMER, consumer.scope)
    with transaction.atomic():
        _audit(principal.name, "consumer.delete", Outcome.SUCCESS, consumer)
        consumer.delete()


def sync(principal: Principal, consumer: Consumer) -> int:
    """Deliver every live matching resource of the scope to ``consumer`` again, as a
    ``resource.created`` event each (builders update what exists). Returns how many."""
    require(principal, Action.MANAGE_CONSUMER, consumer.scope)
    if not consumer.enabled:
        raise Conflict("a disabled consumer receives nothing; enable it", code="invalid_state")
    with transaction.atomic():
        queued = _register_existing(consumer, principal.name)
        _audit(principal.name, "consumer.sync", Outcome.ACCEPTED, consumer,
               f"{queued} resource(s) queued")
    return queued


def consumers_of(principal: Principal | None, scope: str) -> QuerySet[Consumer]:
    """The consumers of ``scope`` ``principal`` may see, with their delivery status."""
    return with_delivery_status(
        Consumer.objects.visible_to(principal, Action.VIEW_CONSUMER, scope)
    )


def get_consumer(principal: Principal | None, scope: str, consumer_id: object) -> Consumer:
    try:
        consumer_id = uuid.UUID(str(consumer_id))
    except ValueError:
        raise NotFound("no such consumer in this scope") from None
    found = consumers_of(principal, scope).filter(pk=consumer_id).first()
    if found is None:
        raise NotFound("no such consumer in this scope")
    return found


def with_delivery_status(consumers: QuerySet[Consumer]) -> QuerySet[Consumer]:
    """Annotate ``last_delivered_at``, ``last_error``, ``last_error_at``,
    ``pending_deliveries`` and ``failed_deliveries`` (one query for a whole page)."""
    errors = (
        Delivery.objects.filter(consumer=OuterRef("pk"))
        .exclude(last_error="")
        .order_by("-updated_at", "-id")
    )
    return consumers.annotate(
        last_delivered_at=Max("deliveries__delivered_at"),
        pending_deliveries=Count("deliveries", filter=Q(deliveries__status=Status.PENDING)),
        failed_deliveries=Count("deliveries", filter=Q(deliveries__status=Status.FAILED)),
        last_error=Subquery(errors.values("last_error")[:1]),
        last_error_at=Subquery(errors.values("updated_at")[:1]),
    ).order_by("scope", "name")


def masked_properties(consumer: Consumer) -> dict[str, Any]:
    """The properties as they may be shown: secrets (every value, for an unknown builder)
    replaced by ``MASK``."""
    try:
        specs = builder_class(consumer.builder).properties
    except LookupError:
        specs = {}
    return {
        key: MASK if value not in ("", None) and (key not in specs or specs[key].secret)
        else value
        for key, value in (consumer.properties or {}).items()
    }


# --- fan-out and delivery -------------------------------------------------------------


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
        for consumer in consumers.filter(enabled=True):
            if _matches(consumer, event.resource, provider_class):
                Delivery.objects.get_or_create(
                    consumer=consumer,
                    event_id=event.id,
                    defaults={
                        "event": event.name,
                        "resource_id": resource.pk,
                        "resource": event.resource,
                        "provider_class": provider_class,
                        "actor": event.actor,
                        "occurred_at": event.occurred_at,
                    },
                )
        never_tried = Delivery.objects.filter(
            event_id=event.id, consumer__scope=event.scope, status=Status.PENDING, attempts=0
        )
        _queue_on_commit(never_tried.values_list("pk", flat=True))


def deliver(delivery_id: int, *, in_process: bool, backoff: Callable[[int], float]) -> None:
    """Hand one delivery to its consumer's builder and record the outcome.

    No transaction is open while the consumer is called: the attempt is claimed (counted
    and leased, committed at once), the builder talks to the tool, and the outcome is
    recorded in a short transaction if the attempt count still names this attempt. A
    transient failure raises ``RetryDelivery`` (to be tried again ``backoff(attempt)``
    seconds later) until ``RM_CONSUMER_MAX_RETRIES`` retries are spent, counted in the
    database, or ``in_process`` (no queue to wait in); then, as any other failure, the
    delivery is ``failed`` with the reason.
    """
    claimed = _claim(delivery_id)
    if claimed is None:
        return
    delivery, event = claimed
    attempt = delivery.attempts
    error, transient = "", False
    try:
        _builder(delivery.consumer).deliver(event)
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
        current = (
            Delivery.objects.select_for_update().select_related("consumer")
            .filter(pk=delivery_id).first()
        )
        if current is None or current.status != Status.PENDING or current.attempts != attempt:
            return  # its consumer was deleted, or a later attempt took over
        if retry_in is not None:
            _note_retry(current, error, retry_in)
        elif error:
            _finish(current, Status.FAILED, error)
        else:
            _finish(current, Status.DELIVERED)

    in_short_transaction(record, what=f"delivery {delivery_id}")
    if retry_in is not None:
        raise RetryDelivery(error, delay=retry_in)


def _claim(delivery_id: int) -> tuple[Delivery, ResourceEvent] | None:
    """Count and lease the next attempt of a pending delivery; None when there is nothing
    to do (delivered, skipped, or another attempt under way)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update().select_related("consumer")
            .filter(pk=delivery_id).first()
        )
        if delivery is None or delivery.status != Status.PENDING:
            return None  # delivered meanwhile, or its consumer was deleted
        if delivery.lease_expires_at is not None and delivery.lease_expires_at > now:
            return None  # the attempt under way records the outcome
        if not delivery.consumer.enabled:
            _finish(delivery, Status.SKIPPED, "the consumer was disabled")
            return None
        event = _event_of(delivery)
        if event is None:
            _finish(delivery, Status.SKIPPED, "the resource has no credentials any more")
            return None
        delivery.attempts += 1
        delivery.lease_expires_at = now + timedelta(seconds=settings.RM_OPERATION_TIMEOUT)
        delivery.save(update_fields=["attempts", "lease_expires_at", "updated_at"])
    return delivery, event


# --- helpers --------------------------------------------------------------------------


def _validated_types(builder_cls: type[ConsumerBuilder], types: object) -> list[str]:
    if types is None:
        return []
    if isinstance(types, str) or not isinstance(types, Iterable):
        raise InvalidInput("resource_types must be a list", field="resource_types")
    result = list(dict.fromkeys(types))
    if any(t not in builder_cls.resource_types for t in result):
        raise InvalidInput(
            f"this builder handles only {', '.join(sorted(builder_cls.resource_types))}",
            field="resource_types",
        )
    return result


def _validated_properties(
    builder_cls: type[ConsumerBuilder], given: object, stored: dict[str, Any] | None
) -> dict[str, Any]:
    """The builder's properties checked by the schema validator (``properties.validate``),
    then URLs against the blocked networks. Unset ones are not stored."""
    try:
        checked = validate(builder_cls.properties, given, stored)
    except PropertyError as exc:
        raise InvalidInput(str(exc), code="invalid_properties", field="properties") from None
    for key in given or {}:  # a Mapping of declared keys once validated
        if builder_cls.properties[key].kind == "url" and checked[key] is not None:
            try:
                destinations.check_url(checked[key])
            except destinations.BlockedDestination as exc:
                raise InvalidInput(
                    f"property {key!r} points into a blocked network ({exc.network}, see "
                    "RM_CONSUMER_BLOCKED_NETWORKS)", code="invalid_properties",
                    field="properties",
                ) from None
    return {key: value for key, value in checked.items() if value is not None}


def _builder(consumer: Consumer) -> ConsumerBuilder:
    return builder_class(consumer.builder)(consumer.properties)


def _matches(consumer: Consumer, resource: dict[str, Any], provider_class: str) -> bool:
    """Whether an event about ``resource`` (its description) is for ``consumer``."""
    if consumer.tags and not set(consumer.tags) & set(resource.get("tags", [])):
        return False
    if consumer.resource_types and resource.get("type") not in consumer.resource_types:
        return False
    try:
        builder = _builder(consumer)
    except LookupError:
        logger.warning("consumer %s has the unknown builder %r", consumer.pk, consumer.builder)
        return False
    probe = ResourceEvent(
        id=0, name="", scope=consumer.scope, resource=resource,
        provider_class=provider_class, actor="", occurred_at="",
    )
    return builder.accepts(probe)


def _register_existing(consumer: Consumer, actor: str) -> int:
    """Queue a ``resource.created`` delivery to ``consumer`` per ready matching resource."""
    resources = (
        Resource.objects.visible_to(SYSTEM, Action.VIEW_RESOURCE, consumer.scope)
        .filter(status=Resource.Status.READY)
        .select_related("provider")
    )
    now = timezone.now()
    queued = []
    for resource in resources:
        description = outbox.describe(resource)
        provider_class = resource.provider.provider_class
        if _matches(consumer, description, provider_class):
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
            _audit(SYSTEM.name, "consumer.deliver", Outcome.ACCEPTED, delivery.consumer,
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


def _event_of(delivery: Delivery) -> ResourceEvent | None:
    """The builder's view of a delivery, with the resource's current credentials; None
    when the resource lost them meanwhile (only a deletion is delivered without)."""
    credentials = None
    if delivery.event != events.DELETED:
        stored = Resource.objects.filter(pk=delivery.resource_id).values_list(
            "credentials", flat=True
        ).first()
        if stored is None:
            return None
        credentials = Credentials.from_dict(stored)
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
    )


def _note_retry(delivery: Delivery, message: str, retry_in: float) -> None:
    logger.warning("delivery %s to consumer %s will be retried: %s",
                   delivery.pk, delivery.consumer_id, message)
    delivery.last_error = message
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
    delivery.lease_expires_at = None
    delivery.save()
    metrics.consumer_delivery(delivery.consumer.builder, "retry")


def _finish(delivery: Delivery, status: str, error: str = "") -> None:
    delivery.status = status
    delivery.next_attempt_at = delivery.lease_expires_at = None
    if error:
        delivery.last_error = error
    if status == Status.DELIVERED:
        delivery.delivered_at = timezone.now()
    delivery.save()
    metrics.consumer_delivery(delivery.consumer.builder, status)
    if status == Status.FAILED:
        logger.warning("delivery %s to consumer %s failed: %s",
                       delivery.pk, delivery.consumer_id, error)
    outcome = {Status.DELIVERED: Outcome.SUCCESS, Status.FAILED: Outcome.FAILURE}.get(status)
    if outcome:
        _audit(SYSTEM.name, "consumer.deliver", outcome, delivery.consumer,
               _describe(delivery) + (f": {error}" if error else ""))


def _describe(delivery: Delivery) -> str:
    resource = delivery.resource
    return f"{delivery.event} of {resource.get('name')} ({resource.get('id')})"


def _name_conflict() -> Conflict:
    return Conflict(
        "a consumer with this name already exists in this scope", code="name_taken", field="name"
    )


def _audit(actor: str, action: str, outcome: str, consumer: Consumer, message: str = "") -> None:
    record(actor, action, outcome, scope=consumer.scope, target=consumer, message=message)
