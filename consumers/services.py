"""Consumers: the tools registered in a scope. The API and the admin go through here.

Requests check access, validate, change the row and write the audit entry in one
transaction; a new or changed consumer is told of the scope's resources through
``consumers.deliveries``, which also carries every later event to it. The logins a
changed or deleted consumer no longer needs are revoked in the same transaction
(``consumers.credentials``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Min, OuterRef, Q, QuerySet, Subquery

from audit.models import AuditEntry
from consumers.builders import destinations
from consumers.builders.base import ConsumerBuilder
from consumers.builders.registry import builder_class
from consumers.credentials import reconcile, revoke_all
from consumers.deliveries import audit_consumer, register_existing
from consumers.models import Consumer, Delivery
from providers.adapters.properties import MASK, PropertyError, validate
from resourcemanager.core.errors import Conflict, InvalidInput, NotFound
from resourcemanager.core.validation import validate_name, validate_scope, validate_tags
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.resources.models import Credential

logger = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome
Status = Delivery.Status


#: Changes after which a consumer gets the scope's resources again.
RESYNC_ON = {"tags", "resource_types", "properties", "enabled", "credential_access"}


def validate_consumer(
    principal: Principal | None,
    scope: str,
    *,
    builder: object,
    name: object,
    tags: object = None,
    resource_types: object = None,
    properties: object = None,
    credential_access: object = None,
    consumer: Consumer | None = None,
) -> dict[str, Any]:
    """Check access and validate a consumer's fields without changing anything.

    ``consumer`` is the stored one for an update: its properties are merged with the new
    ones (null restores a property's default; a secret left empty or masked keeps its value).
    ``credential_access`` left out keeps the stored level, or takes the builder's.
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
        "credential_access": _validated_access(
            credential_access, consumer.credential_access if consumer
            else builder_cls.credential_access
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
    credential_access: object = None,
) -> Consumer:
    """Register a consumer; an enabled one gets the scope's existing resources at once."""
    values = validate_consumer(
        principal, scope, builder=builder, name=name, tags=tags,
        resource_types=resource_types, properties=properties,
        credential_access=credential_access,
    )
    try:
        with transaction.atomic():
            consumer = Consumer.objects.create(
                scope=scope, enabled=bool(enabled), created_by_id=principal.user_id, **values
            )
            queued = register_existing(consumer, principal.name) if consumer.enabled else 0
            audit_consumer(principal.name, "consumer.create", Outcome.SUCCESS, consumer,
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
    credential_access: object = None,
) -> Consumer:
    """Change what is given. When the consumer's view of the scope changes (filters,
    properties, access level, enabled again), the scope's resources are delivered to it
    again; its logins to resources it no longer matches (all, when disabled) are revoked."""
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
                credential_access=credential_access,
                consumer=consumer,
            )
            if enabled is not None:
                values["enabled"] = bool(enabled)
            changed = sorted(k for k, v in values.items() if getattr(consumer, k) != v)
            for key, value in values.items():
                setattr(consumer, key, value)
            consumer.save()
            revoked = reconcile(consumer)
            queued = 0
            if consumer.enabled and RESYNC_ON & set(changed):
                queued = register_existing(consumer, principal.name)
            audit_consumer(principal.name, "consumer.update", Outcome.SUCCESS, consumer,
                   f"changed: {', '.join(changed) or 'nothing'}; {queued} resource(s) "
                   f"queued; {revoked} login(s) revoked")
    except IntegrityError:
        raise _name_conflict() from None
    return consumer


def delete_consumer(principal: Principal, consumer: Consumer) -> None:
    """Forget the consumer and its deliveries, and revoke its logins; the tool itself is
    left as it is."""
    require(principal, Action.MANAGE_CONSUMER, consumer.scope)
    with transaction.atomic():
        consumer = Consumer.objects.select_for_update().filter(pk=consumer.pk).first()
        if consumer is None:
            return
        revoked = revoke_all(consumer)
        audit_consumer(principal.name, "consumer.delete", Outcome.SUCCESS, consumer,
                       f"{revoked} login(s) revoked")
        consumer.delete()


def sync(principal: Principal, consumer: Consumer) -> int:
    """Deliver every live matching resource of the scope to ``consumer`` again, as a
    ``resource.created`` event each (builders update what exists), after revoking the
    logins it no longer needs or that failed (deliveries issue others). Returns how many."""
    require(principal, Action.MANAGE_CONSUMER, consumer.scope)
    if not consumer.enabled:
        raise Conflict("a disabled consumer receives nothing; enable it", code="invalid_state")
    with transaction.atomic():
        reconcile(consumer)
        queued = register_existing(consumer, principal.name)
        audit_consumer(principal.name, "consumer.sync", Outcome.ACCEPTED, consumer,
               f"{queued} resource(s) queued")
    return queued


def consumers_of(principal: Principal | None, scope: str) -> QuerySet[Consumer]:
    """The consumers of ``scope`` ``principal`` may see, with their delivery status."""
    return with_delivery_status(
        Consumer.objects.visible_to(principal, Action.VIEW_CONSUMER, scope)
    )


def get_consumer(principal: Principal | None, scope: str, consumer_id: object) -> Consumer:
    found = consumers_of(principal, scope).with_id(consumer_id)
    if found is None:
        raise NotFound("no such consumer in this scope")
    return found


def with_delivery_status(consumers: QuerySet[Consumer]) -> QuerySet[Consumer]:
    """Annotate the delivery status (one query for a whole page): ``last_delivered_at``;
    ``last_error`` and ``last_error_at`` of the latest failed attempt (whether a retry
    then succeeded or not: compare with ``last_delivered_at``); counts of deliveries
    ``pending`` (``retrying``: waiting for a retry after a failed attempt), ``failed`` and
    ``skipped``; ``next_retry_at``, the earliest retry due."""
    errors = (
        Delivery.objects.filter(consumer=OuterRef("pk"), last_error_at__isnull=False)
        .order_by("-last_error_at", "-id")
    )
    pending = Q(deliveries__status=Status.PENDING)
    return consumers.annotate(
        last_delivered_at=Max("deliveries__delivered_at"),
        pending_deliveries=Count("deliveries", filter=pending),
        retrying_deliveries=Count(
            "deliveries", filter=pending & Q(deliveries__next_attempt_at__isnull=False)),
        failed_deliveries=Count("deliveries", filter=Q(deliveries__status=Status.FAILED)),
        skipped_deliveries=Count("deliveries", filter=Q(deliveries__status=Status.SKIPPED)),
        next_retry_at=Min("deliveries__next_attempt_at", filter=pending),
        last_error=Subquery(errors.values("last_error")[:1]),
        last_error_at=Subquery(errors.values("last_error_at")[:1]),
    ).order_by("scope", "name")


def deliveries_of(consumer: Consumer, status: str | None = None) -> QuerySet[Delivery]:
    """The deliveries of ``consumer`` (found through ``get_consumer``), newest first;
    only those in ``status`` when given."""
    found = consumer.deliveries.order_by("-id")
    if status:
        if status not in Status.values:
            raise InvalidInput(f"status is one of {', '.join(Status.values)}", field="status")
        found = found.filter(status=status)
    return found


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


def _validated_access(given: object, default: str) -> str:
    if given is None:
        return str(default)
    levels = Credential.Access.values
    if given not in levels:
        raise InvalidInput(f"credential_access is one of {', '.join(levels)}",
                           field="credential_access")
    return str(given)


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
                    "RM_CONSUMER_BLOCKED_NETWORKS; an operator may allow it with "
                    "RM_CONSUMER_ALLOWED_NETWORKS)", code="invalid_properties",
                    field="properties",
                ) from None
    return {key: value for key, value in checked.items() if value is not None}


def _name_conflict() -> Conflict:
    return Conflict(
        "a consumer with this name already exists in this scope", code="name_taken", field="name"
    )


def forget_scope(sender: object, *, principal: Principal, scope: str, **kwargs: Any) -> str:
    """``scope_deleting``: delete the scope's consumers as ``delete_consumer`` does (their
    logins revoked, each audited)."""
    found = list(Consumer.objects.filter(scope=scope))
    for consumer in found:
        delete_consumer(principal, consumer)
    return f"{len(found)} consumer(s)"
