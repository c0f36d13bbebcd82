"""The resource lifecycle. The API, the admin, commands and tasks all go through here.

Requests (``create_resource`` …) check access, validate, change the row and write the
audit entry in one transaction, then schedule the provider operation on commit. The
operation (``run_operation``) runs in a task, locks the row, talks to the backend and
records the outcome. Every step is idempotent, so a retried or re-delivered task converges.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from providers.base import (
    CheckResult,
    Credentials,
    PropertyError,
    ProviderAdapter,
    ProviderError,
)
from providers.models import Provider
from providers.naming import new_backend_name, new_password
from resourcemanager import events, failures, metrics, outbox
from resourcemanager.access import SYSTEM, Action, Principal, require
from resourcemanager.errors import Conflict, InvalidInput, NotFound
from resourcemanager.models import Resource
from resourcemanager.validation import validate_name, validate_tags

logger = logging.getLogger(__name__)
Status = Resource.Status
Outcome = AuditEntry.Outcome


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    CHECK = "check"
    DELETE = "delete"


class RetryLater(Exception):
    """A transient backend failure; the task runs the operation again after a backoff."""


@dataclass(frozen=True)
class ResourceRequest:
    """A validated request for a new resource."""

    scope: str
    provider: Provider
    name: str
    tags: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)


# --- requests -------------------------------------------------------------------------


def prepare_resource(
    principal: Principal | None,
    scope: str,
    *,
    provider: str,
    name: object,
    tags: object = None,
    properties: object = None,
) -> ResourceRequest:
    """Check access and validate a resource request without changing anything."""
    require(principal, Action.MANAGE_RESOURCE, scope)
    instance = resolve_provider(scope, provider)
    if properties is not None and not isinstance(properties, dict):
        raise InvalidInput("properties must be an object", field="properties")
    try:
        checked_properties = instance.adapter().validate_properties(properties or {})
    except PropertyError as exc:
        raise InvalidInput(str(exc), code="invalid_properties", field="properties") from None
    return ResourceRequest(
        scope=scope,
        provider=instance,
        name=validate_name(name),
        tags=validate_tags(tags),
        properties=checked_properties,
    )


def resolve_provider(scope: str, provider: object) -> Provider:
    """The instance named ``provider``, or for a class name (``postgresql``) its default.

    Among several usable instances of a class, the one marked default wins, else the first
    by key.
    """
    usable = Provider.objects.usable_in(scope)
    key = str(provider)
    instance = usable.filter(key=key).first() or (
        usable.filter(provider_class=key).order_by("-is_default", "key").first()
    )
    if instance is None:
        raise InvalidInput(
            f"no provider {key[:63]!r} is available in this scope",
            code="unknown_provider",
            field="provider",
        )
    return instance


def register_resource(
    principal: Principal,
    scope: str,
    *,
    provider: str,
    name: object,
    uri: object,
    tags: object = None,
) -> Resource:
    """ADD: record an external resource by URI. Read-only; nothing on a backend changes."""
    require(principal, Action.MANAGE_RESOURCE, scope)
    instance = resolve_provider(scope, provider)
    if not isinstance(uri, str):
        raise InvalidInput("uri must be a string", field="uri")
    try:
        credentials = instance.adapter_class.parse_uri(uri)
    except PropertyError as exc:
        raise InvalidInput(str(exc), code="invalid_uri", field="uri") from None
    name, tags = validate_name(name), validate_tags(tags)
    if _name_taken(scope, instance, name):
        raise _name_conflict()
    try:
        with transaction.atomic():
            resource = Resource.objects.create(
                scope=scope,
                provider=instance,
                type=instance.resource_type,
                name=name,
                backend_name=None,
                managed=False,
                status=Status.READY,
                tags=tags,
                credentials=credentials.as_dict(),
                created_by_id=principal.user_id,
            )
            _audit(principal.name, "resource.add", Outcome.SUCCESS, resource)
            outbox.emit_event(resource, events.CREATED, principal.name)
    except IntegrityError:
        raise _name_conflict() from None
    return resource


def create_resource(principal: Principal, request: ResourceRequest) -> Resource:
    """Record a new managed resource and schedule its creation on the backend."""
    require(principal, Action.MANAGE_RESOURCE, request.scope)
    if _name_taken(request.scope, request.provider, request.name):
        raise _name_conflict()
    try:
        with transaction.atomic():
            resource = Resource.objects.create(
                scope=request.scope,
                provider=request.provider,
                type=request.provider.resource_type,
                name=request.name,
                backend_name=new_backend_name(
                    request.provider.options.get("name_prefix", "rm_")
                ),
                tags=request.tags,
                properties=request.properties,
                created_by_id=principal.user_id,
            )
            _audit(principal.name, "resource.create", Outcome.ACCEPTED, resource)
            _schedule(resource, Operation.CREATE, principal)
    except IntegrityError:
        raise _name_conflict() from None
    return resource


def check_update(
    principal: Principal | None,
    resource: Resource,
    *,
    tags: object = None,
    properties: object = None,
) -> dict[str, Any]:
    """Check access and validate a change without making it: the new values of the fields
    it changes (``tags``, ``properties``; None leaves a field as it is)."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    _require_managed(resource, "changed")
    if resource.status in (Status.DELETING, Status.DELETED):
        raise Conflict(f"the resource is {resource.status}", code="invalid_state")
    changes: dict[str, Any] = {}
    if tags is not None:
        changes["tags"] = validate_tags(tags)
    if properties is not None:
        if not isinstance(properties, dict):
            raise InvalidInput("properties must be an object", field="properties")
        try:
            changes["properties"] = resource.provider.adapter().validate_properties(
                properties, current=resource.properties
            )
        except PropertyError as exc:
            raise InvalidInput(str(exc), code="invalid_properties", field="properties") from None
    return changes


def update_resource(
    principal: Principal,
    resource: Resource,
    *,
    tags: object = None,
    properties: object = None,
) -> Resource:
    """Change tags and/or properties; properties reach the backend through a task."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    _require_managed(resource, "changed")
    with transaction.atomic():
        resource = _locked(resource.pk)
        changes = check_update(principal, resource, tags=tags, properties=properties)
        for name, value in changes.items():
            setattr(resource, name, value)
        resource.save()
        _audit(principal.name, "resource.update", Outcome.SUCCESS, resource, ", ".join(changes))
        if "properties" in changes and resource.status == Status.READY:
            _schedule(resource, Operation.UPDATE, principal)  # announced once applied
        elif changes:
            outbox.emit_event(resource, events.UPDATED, principal.name)
    return resource


def check_resource(
    principal: Principal, resource: Resource, *, repair: bool = True, inline: bool = False
) -> Resource:
    """Schedule a CHECK (``inline``: run it in this process on commit, for commands).

    A resource whose creation failed is created again instead.
    """
    require(principal, Action.CHECK_RESOURCE, resource.scope)
    _require_managed(resource, "checked")
    with transaction.atomic():
        resource = _locked(resource.pk)
        if resource.status not in (Status.READY, Status.ERROR):
            raise Conflict(
                f"a {resource.status} resource cannot be checked", code="invalid_state"
            )
        _audit(principal.name, "resource.check", Outcome.ACCEPTED, resource)
        if resource.credentials is None:
            resource.status = Status.PENDING
            resource.save(update_fields=["status", "updated_at"])
            _schedule(resource, Operation.CREATE, principal, inline=inline)
        else:
            _schedule(resource, Operation.CHECK, principal, repair=repair, inline=inline)
    return resource


def delete_resource(principal: Principal, resource: Resource) -> Resource:
    """Schedule the removal of the resource, its login and all its data. Repeatable.

    For an unmanaged resource this is REMOVE: the record goes, the backend is not touched.
    """
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    with transaction.atomic():
        resource = _locked(resource.pk)
        if resource.status == Status.DELETED:
            return resource
        if not resource.managed:
            resource.status = Status.DELETED
            resource.credentials = None
            resource.save(update_fields=["status", "credentials", "updated_at"])
            _audit(principal.name, "resource.remove", Outcome.SUCCESS, resource)
            outbox.emit_event(resource, events.DELETED, principal.name)
            return resource
        resource.status = Status.DELETING
        resource.save(update_fields=["status", "updated_at"])
        _audit(principal.name, "resource.delete", Outcome.ACCEPTED, resource)
        _schedule(resource, Operation.DELETE, principal)
    return resource


def get_resource(principal: Principal | None, scope: str, resource_id: object) -> Resource:
    """The resource with ``resource_id`` in ``scope`` if ``principal`` may see it."""
    try:
        resource_id = uuid.UUID(str(resource_id))
    except ValueError:
        raise NotFound("no such resource in this scope") from None
    found = (
        Resource.objects.visible_to(principal, Action.VIEW_RESOURCE, scope)
        .select_related("provider")
        .filter(pk=resource_id)
        .first()
    )
    if found is None:
        raise NotFound("no such resource in this scope")
    return found


# --- operations (run by providers.tasks) ----------------------------------------------


def run_operation(
    resource_id: str,
    operation: str,
    *,
    actor: str,
    repair: bool = True,
    last_attempt: bool = True,
) -> None:
    """Carry out one provider operation for a resource and record its outcome.

    A transient backend failure raises ``RetryLater`` unless this is the ``last_attempt``;
    then, as for any other failure, the resource goes to ``error`` with the reason.
    """
    handlers = {
        Operation.CREATE: _run_create,
        Operation.UPDATE: _run_update,
        Operation.CHECK: _run_check,
        Operation.DELETE: _run_delete,
    }
    handlers[Operation(operation)](resource_id, actor, repair=repair, last_attempt=last_attempt)


def _run_create(resource_id: str, actor: str, *, repair: bool, last_attempt: bool) -> None:
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status not in (Status.PENDING, Status.CREATING):
            return
        resource.status = Status.CREATING
        resource.save(update_fields=["status", "updated_at"])
    retry = None
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status != Status.CREATING:
            return  # deleted meanwhile; the delete operation cleans up
        adapter = resource.provider.adapter()
        try:
            credentials = adapter.create(
                resource.backend_name, new_password(), resource.properties
            )
        except ProviderError as exc:
            if exc.transient and not last_attempt:
                retry = _note_retry(resource, "resource.create", exc)
            else:
                _record_failure(resource, actor, "resource.create", exc)
                _remove_partial_creation(adapter, resource)
        else:
            resource.credentials = credentials.as_dict()
            resource.status = Status.READY
            resource.status_message = ""
            resource.save()
            _audit(actor, "resource.create", Outcome.SUCCESS, resource)
            metrics.provider_operation(resource, Operation.CREATE, "success")
            outbox.emit_event(resource, events.CREATED, actor)
    if retry:
        raise retry


def _run_update(resource_id: str, actor: str, *, repair: bool, last_attempt: bool) -> None:
    retry = None
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status != Status.READY:
            return
        try:
            resource.provider.adapter().update(resource.backend_name, resource.properties)
        except ProviderError as exc:
            if exc.transient and not last_attempt:
                retry = _note_retry(resource, "resource.update", exc)
            else:
                _record_failure(resource, actor, "resource.update", exc)
        else:
            _audit(actor, "resource.update", Outcome.SUCCESS, resource, "properties applied")
            metrics.provider_operation(resource, Operation.UPDATE, "success")
            outbox.emit_event(resource, events.UPDATED, actor)
    if retry:
        raise retry


def _run_check(resource_id: str, actor: str, *, repair: bool, last_attempt: bool) -> None:
    """CHECK and record the outcome; an unreachable backend is a failing check, not a retry."""
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status not in (Status.READY, Status.ERROR) or resource.credentials is None:
            return
        adapter = resource.provider.adapter()
        try:
            result = adapter.check(Credentials.from_dict(resource.credentials), repair=repair)
            if result.repaired and adapter.properties:  # e.g. a re-created login lacks its limit
                adapter.update(resource.backend_name, resource.properties)
        except ProviderError as exc:
            result = CheckResult(ok=False, message=failures.log_failure(
                f"check of resource {resource_id} failed", exc.message))
        message = result.message
        if result.repaired:
            message = f"{message} (repaired: {', '.join(result.repaired)})"
        resource.last_check_at = timezone.now()
        resource.last_check_ok = result.ok
        resource.last_check_message = message
        if result.credentials is not None:
            resource.credentials = result.credentials.as_dict()
        if result.ok and resource.status == Status.ERROR:
            resource.status = Status.READY
            resource.status_message = ""
        resource.save()
        outcome = Outcome.SUCCESS if result.ok else Outcome.FAILURE
        _audit(actor, "resource.check", outcome, resource,
               failures.check_shown(resource, operator=False))
        metrics.provider_operation(resource, Operation.CHECK, "success" if result.ok else "failure")
        outbox.emit_event(resource, events.CHECKED, actor)


def _run_delete(resource_id: str, actor: str, *, repair: bool, last_attempt: bool) -> None:
    retry = None
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status != Status.DELETING:
            return
        try:
            resource.provider.adapter().delete(resource.backend_name)
        except ProviderError as exc:
            if exc.transient and not last_attempt:
                retry = _note_retry(resource, "resource.delete", exc)
            else:
                _record_failure(resource, actor, "resource.delete", exc)
        else:
            resource.status = Status.DELETED
            resource.status_message = ""
            resource.credentials = None
            resource.save()
            _audit(actor, "resource.delete", Outcome.SUCCESS, resource)
            metrics.provider_operation(resource, Operation.DELETE, "success")
            outbox.emit_event(resource, events.DELETED, actor)
    if retry:
        raise retry


def sweep_stuck_operations(timeout: float | None = None) -> list[Resource]:
    """Queue again the operations of resources that made no progress for ``timeout`` seconds.

    Covers a worker killed mid-operation whose message is not redelivered, and a message
    lost before it reached the queue. Operations are idempotent, so a second run of one
    that is merely slow only finds its work done.
    """
    timeout = settings.RM_OPERATION_TIMEOUT if timeout is None else timeout
    cutoff = timezone.now() - timedelta(seconds=timeout)
    stuck = Resource.objects.filter(
        status__in=[Status.PENDING, Status.CREATING, Status.DELETING], updated_at__lt=cutoff
    )
    requeued = []
    for resource_id in stuck.values_list("pk", flat=True):
        with transaction.atomic():
            resource = _locked(resource_id)
            if resource.status not in (Status.PENDING, Status.CREATING, Status.DELETING):
                continue
            if resource.updated_at >= cutoff:
                continue  # progressed since the query
            operation = Operation.DELETE if resource.status == Status.DELETING else Operation.CREATE
            resource.save(update_fields=["updated_at"])  # not again before the next timeout
            _audit(
                SYSTEM.name,
                f"resource.{operation}",
                Outcome.ACCEPTED,
                resource,
                f"queued again: still {resource.status} after {int(timeout)} s",
            )
            outbox.enqueue_operation(resource, operation.value, SYSTEM.name)
            requeued.append(resource)
    if requeued:
        logger.warning("queued %d stuck operation(s) again", len(requeued))
    return requeued


# --- helpers --------------------------------------------------------------------------


def _locked(resource_id: object) -> Resource:
    return Resource.objects.select_for_update().select_related("provider").get(pk=resource_id)


def _require_managed(resource: Resource, verb: str) -> None:
    if not resource.managed:
        raise Conflict(
            f"an unmanaged resource is read-only and cannot be {verb}; remove and add it again",
            code="unmanaged",
        )


def _name_taken(scope: str, provider: Provider, name: str) -> bool:
    return Resource.objects.live().filter(scope=scope, provider=provider, name=name).exists()


def _name_conflict() -> Conflict:
    return Conflict(
        "a resource with this name already exists for this provider in this scope",
        code="name_taken",
        field="name",
    )


def _note_retry(resource: Resource, action: str, exc: ProviderError) -> RetryLater:
    failures.log_failure(f"{action} of resource {resource.pk} will be retried", exc.message)
    resource.status_message = f"{failures.RETRYING}{exc.message}"
    resource.save(update_fields=["status_message", "updated_at"])
    metrics.provider_operation(resource, action.removeprefix("resource."), "retry")
    return RetryLater(exc.message)


def _remove_partial_creation(adapter: ProviderAdapter, resource: Resource) -> None:
    """After a failed CREATE, drop whatever part of it exists so nothing is left behind.

    A CHECK of the resource (or a new request) creates it again from scratch.
    """
    try:
        adapter.delete(resource.backend_name)
    except ProviderError as exc:
        logger.warning(
            "could not remove what the failed creation of %s left: %s", resource.pk, exc.message
        )


def _record_failure(resource: Resource, actor: str, action: str, exc: ProviderError) -> None:
    failures.log_failure(f"{action} of resource {resource.pk} failed", exc.message)
    resource.status = Status.ERROR
    resource.status_message = exc.message
    resource.save(update_fields=["status", "status_message", "updated_at"])
    _audit(actor, action, Outcome.FAILURE, resource,
           failures.status_shown(resource, operator=False))
    metrics.provider_operation(resource, action.removeprefix("resource."), "failure")


def _audit(actor: str, action: str, outcome: str, resource: Resource, message: str = "") -> None:
    record(actor, action, outcome, scope=resource.scope, target=resource, message=message)


def _schedule(
    resource: Resource,
    operation: Operation,
    principal: Principal,
    *,
    repair: bool = True,
    inline: bool = False,
) -> None:
    """Queue the provider operation through the outbox (``inline``: run it here on commit)."""
    if not inline:
        outbox.enqueue_operation(resource, operation.value, principal.name, repair=repair)
        return
    resource_id, actor = str(resource.pk), principal.name
    transaction.on_commit(
        lambda: run_operation(resource_id, operation.value, actor=actor, repair=repair),
        robust=True,
    )
