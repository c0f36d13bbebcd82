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
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from providers import tasks
from providers.base import CheckResult, Credentials, PropertyError, ProviderError
from providers.models import Provider
from providers.naming import new_backend_name, new_password
from resourcemanager.access import Action, Principal, require
from resourcemanager.context import get_request_id, get_source_ip
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
    instance = Provider.objects.usable_in(scope).filter(key=provider).first()
    if instance is None:
        raise InvalidInput(
            f"no provider {provider!r} is available in this scope",
            code="unknown_provider",
            field="provider",
        )
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


def update_resource(
    principal: Principal,
    resource: Resource,
    *,
    tags: object = None,
    properties: object = None,
) -> Resource:
    """Change tags and/or properties; properties reach the backend through a task."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    with transaction.atomic():
        resource = _locked(resource.pk)
        if resource.status in (Status.DELETING, Status.DELETED):
            raise Conflict(f"the resource is {resource.status}", code="invalid_state")
        changed = []
        if tags is not None:
            resource.tags = validate_tags(tags)
            changed.append("tags")
        if properties is not None:
            if not isinstance(properties, dict):
                raise InvalidInput("properties must be an object", field="properties")
            try:
                resource.properties = resource.provider.adapter().validate_properties(properties)
            except PropertyError as exc:
                raise InvalidInput(
                    str(exc), code="invalid_properties", field="properties"
                ) from None
            changed.append("properties")
        resource.save()
        _audit(principal.name, "resource.update", Outcome.SUCCESS, resource, ", ".join(changed))
        if "properties" in changed and resource.status == Status.READY:
            _schedule(resource, Operation.UPDATE, principal)
    return resource


def check_resource(
    principal: Principal, resource: Resource, *, repair: bool = True, inline: bool = False
) -> Resource:
    """Schedule a CHECK (``inline``: run it in this process on commit, for commands).

    A resource whose creation failed is created again instead.
    """
    require(principal, Action.CHECK_RESOURCE, resource.scope)
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
    """Schedule the removal of the resource, its login and all its data. Repeatable."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    with transaction.atomic():
        resource = _locked(resource.pk)
        if resource.status == Status.DELETED:
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


def run_operation(resource_id: str, operation: str, *, actor: str, repair: bool = True) -> None:
    """Carry out one provider operation for a resource and record its outcome."""
    handlers = {
        Operation.CREATE: _run_create,
        Operation.UPDATE: _run_update,
        Operation.CHECK: _run_check,
        Operation.DELETE: _run_delete,
    }
    handlers[Operation(operation)](resource_id, actor, repair)


def _run_create(resource_id: str, actor: str, repair: bool) -> None:
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status not in (Status.PENDING, Status.CREATING):
            return
        resource.status = Status.CREATING
        resource.save(update_fields=["status", "updated_at"])
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status != Status.CREATING:
            return  # deleted meanwhile; the delete operation cleans up
        try:
            credentials = resource.provider.adapter().create(
                resource.backend_name, new_password(), resource.properties
            )
        except ProviderError as exc:
            _record_failure(resource, actor, "resource.create", exc)
            return
        resource.credentials = credentials.as_dict()
        resource.status = Status.READY
        resource.status_message = ""
        resource.save()
        _audit(actor, "resource.create", Outcome.SUCCESS, resource)


def _run_update(resource_id: str, actor: str, repair: bool) -> None:
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status != Status.READY:
            return
        try:
            resource.provider.adapter().update(resource.backend_name, resource.properties)
        except ProviderError as exc:
            _record_failure(resource, actor, "resource.update", exc)
            return
        _audit(actor, "resource.update", Outcome.SUCCESS, resource, "properties applied")


def _run_check(resource_id: str, actor: str, repair: bool) -> None:
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status not in (Status.READY, Status.ERROR) or resource.credentials is None:
            return
        try:
            result = resource.provider.adapter().check(
                Credentials.from_dict(resource.credentials), repair=repair
            )
        except ProviderError as exc:
            result = CheckResult(ok=False, message=exc.message)
        message = result.message
        if result.repaired:
            message = f"{message} (repaired: {', '.join(result.repaired)})"
        resource.last_check_at = timezone.now()
        resource.last_check_ok = result.ok
        resource.last_check_message = message
        if result.ok and resource.status == Status.ERROR:
            resource.status = Status.READY
            resource.status_message = ""
        resource.save()
        outcome = Outcome.SUCCESS if result.ok else Outcome.FAILURE
        _audit(actor, "resource.check", outcome, resource, message)


def _run_delete(resource_id: str, actor: str, repair: bool) -> None:
    with transaction.atomic():
        resource = _locked(resource_id)
        if resource.status != Status.DELETING:
            return
        try:
            resource.provider.adapter().delete(resource.backend_name)
        except ProviderError as exc:
            _record_failure(resource, actor, "resource.delete", exc)
            return
        resource.status = Status.DELETED
        resource.status_message = ""
        resource.credentials = None
        resource.save()
        _audit(actor, "resource.delete", Outcome.SUCCESS, resource)


# --- helpers --------------------------------------------------------------------------


def _locked(resource_id: object) -> Resource:
    return Resource.objects.select_for_update().select_related("provider").get(pk=resource_id)


def _name_taken(scope: str, provider: Provider, name: str) -> bool:
    return Resource.objects.live().filter(scope=scope, provider=provider, name=name).exists()


def _name_conflict() -> Conflict:
    return Conflict(
        "a resource with this name already exists for this provider in this scope",
        code="name_taken",
        field="name",
    )


def _record_failure(resource: Resource, actor: str, action: str, exc: ProviderError) -> None:
    logger.warning("%s of resource %s failed: %s", action, resource.pk, exc.message)
    resource.status = Status.ERROR
    resource.status_message = exc.message
    resource.save(update_fields=["status", "status_message", "updated_at"])
    _audit(actor, action, Outcome.FAILURE, resource, exc.message)


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
    """Queue the provider operation (or run it here) once the transaction has committed."""
    task_kwargs = {
        "resource_id": str(resource.pk),
        "operation": operation.value,
        "actor": principal.name,
        "request_id": get_request_id(),
        "source_ip": get_source_ip(),
        "repair": repair,
    }
    task = tasks.run_resource_operation
    transaction.on_commit(
        lambda: task(**task_kwargs) if inline else task.delay(**task_kwargs), robust=True
    )
