"""Resource requests. The API, the admin and commands all go through here.

Requests (``create_resource`` …) check access, validate, change the row and write the
audit entry in one transaction, then schedule the provider operation on commit through
the outbox; ``resourcemanager.resources.operations`` runs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEntry
from providers.adapters.base import Credentials, PropertyError
from providers.adapters.naming import new_backend_name
from providers.models import Provider
from resourcemanager.core.errors import Conflict, InvalidInput, NotFound
from resourcemanager.core.validation import validate_name, validate_scope, validate_tags
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.outbox import events, relay
from resourcemanager.resources import quotas
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import Operation, audit_resource, locked_resource
from resourcemanager.resources.resource_runs import RECREATING, run_operation

logger = logging.getLogger(__name__)
Status = Resource.Status
Outcome = AuditEntry.Outcome


@dataclass(frozen=True)
class ResourceRequest:
    """A validated request for a new resource."""

    scope: str
    provider: Provider
    name: str
    tags: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)


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
    require(principal, Action.MANAGE_RESOURCE, validate_scope(scope))
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
    by key. One read: the instance so named and those of the class so named, chosen here.
    """
    key = str(provider)
    candidates = Provider.objects.usable_in(scope).filter(
        Q(key=key) | Q(provider_class=key)).order_by()
    instance = min(candidates, default=None,
                   key=lambda found: (found.key != key, not found.is_default, found.key))
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
    require(principal, Action.MANAGE_RESOURCE, validate_scope(scope))
    instance = resolve_provider(scope, provider)
    if not isinstance(uri, str):
        raise InvalidInput("uri must be a string", field="uri")
    try:
        credentials = instance.adapter_class.parse_uri(uri)
    except PropertyError as exc:
        raise InvalidInput(str(exc), code="invalid_uri", field="uri") from None
    name, tags = validate_name(name), validate_tags(tags)
    try:
        with transaction.atomic():
            _require_room(scope, instance, name)
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
            audit_resource(principal.name, "resource.add", Outcome.SUCCESS, resource)
            relay.emit_event(resource, events.CREATED, principal.name)
    except IntegrityError:
        raise _name_conflict() from None
    return resource


def create_resource(principal: Principal, request: ResourceRequest) -> Resource:
    """Record a new managed resource and schedule its creation on the backend."""
    require(principal, Action.MANAGE_RESOURCE, request.scope)
    try:
        with transaction.atomic():
            _require_room(request.scope, request.provider, request.name)
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
            audit_resource(principal.name, "resource.create", Outcome.ACCEPTED, resource)
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
        resource = locked_resource(resource.pk)
        changes = check_update(principal, resource, tags=tags, properties=properties)
        for name, value in changes.items():
            setattr(resource, name, value)
        resource.save()
        audit_resource(
            principal.name, "resource.update", Outcome.SUCCESS, resource, ", ".join(changes)
        )
        if "properties" in changes and resource.status == Status.READY:
            _schedule(resource, Operation.UPDATE, principal)  # announced once applied
        elif changes:
            relay.emit_event(resource, events.UPDATED, principal.name)
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
        resource = locked_resource(resource.pk)
        if resource.status not in (Status.READY, Status.ERROR):
            raise Conflict(
                f"a {resource.status} resource cannot be checked", code="invalid_state"
            )
        audit_resource(principal.name, "resource.check", Outcome.ACCEPTED, resource)
        if resource.credentials is None:
            # The check's finding, until the creation it asks for records its outcome.
            resource.status = Status.PENDING
            resource.last_check_at = timezone.now()
            resource.last_check_ok = False
            resource.last_check_message = RECREATING
            resource.save(update_fields=["status", "last_check_at", "last_check_ok",
                                         "last_check_message", "updated_at"])
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
        return _delete(principal, locked_resource(resource.pk))


def delete_visible_resource(principal: Principal | None, scope: str,
                            resource_id: object) -> Resource:
    """``delete_resource`` of the resource with ``resource_id`` in ``scope`` if
    ``principal`` may see it (else NotFound), read once: locked."""
    require(principal, Action.MANAGE_RESOURCE, scope)
    with transaction.atomic():
        return _delete(principal, get_resource(principal, scope, resource_id, locked=True))


def _delete(principal: Principal, resource: Resource) -> Resource:
    """DELETE (or REMOVE) of ``resource``, locked in the current transaction."""
    if resource.status == Status.DELETED:
        return resource
    if not resource.managed:
        resource.status = Status.DELETED
        resource.credentials = None
        resource.save(update_fields=["status", "credentials", "updated_at"])
        audit_resource(principal.name, "resource.remove", Outcome.SUCCESS, resource)
        relay.emit_event(resource, events.DELETED, principal.name)
        return resource
    resource.status = Status.DELETING
    resource.save(update_fields=["status", "updated_at"])
    audit_resource(principal.name, "resource.delete", Outcome.ACCEPTED, resource)
    _schedule(resource, Operation.DELETE, principal)
    return resource


def get_resource(principal: Principal | None, scope: str, resource_id: object, *,
                 locked: bool = False) -> Resource:
    """The resource with ``resource_id`` in ``scope`` if ``principal`` may see it, with
    its provider; ``locked``: locked until the transaction ends (its provider is not)."""
    visible = Resource.objects.visible_to(principal, Action.VIEW_RESOURCE, scope)
    if locked:
        visible = visible.select_for_update(of=("self",))
    found = visible.select_related("provider").with_id(resource_id)
    if found is None:
        raise NotFound("no such resource in this scope")
    return found


def reveal_owner_credentials(principal: Principal | None, resource: Resource) -> Credentials:
    """The resource's own (owner) credentials, for whoever manages the scope's
    credentials; audited. Reads of the resource carry its connection without them."""
    require(principal, Action.MANAGE_CREDENTIAL, resource.scope)
    if not resource.credentials:
        raise Conflict(f"the resource is {resource.status} and has no credentials yet",
                       code="not_ready")
    audit_resource(principal.name, "resource.reveal", Outcome.SUCCESS, resource)
    return Credentials.from_dict(resource.credentials)


def _require_managed(resource: Resource, verb: str) -> None:
    if not resource.managed:
        raise Conflict(
            f"an unmanaged resource is read-only and cannot be {verb}; remove and add it again",
            code="unmanaged",
        )


def _require_room(scope: str, provider: Provider, name: str) -> None:
    """Room in the scope's quota for one more resource, in the transaction that adds it.
    A taken name is not looked up beforehand: the live-name constraint refuses the row
    (``IntegrityError``, answered as ``name_taken``). Refused over quota, a taken name is
    still the answer, as it comes first."""
    try:
        quotas.require_room(scope, resources=1)
    except Conflict:
        if _name_taken(scope, provider, name):
            raise _name_conflict() from None
        raise


def _name_taken(scope: str, provider: Provider, name: str) -> bool:
    return Resource.objects.live().filter(scope=scope, provider=provider, name=name).exists()


def _name_conflict() -> Conflict:
    return Conflict(
        "a resource with this name already exists for this provider in this scope",
        code="name_taken",
        field="name",
    )


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
        relay.enqueue_operation(resource, operation.value, principal.name, repair=repair)
        return
    resource_id, actor = str(resource.pk), principal.name
    transaction.on_commit(
        lambda: run_operation(resource_id, operation.value, actor=actor, repair=repair),
        robust=True,
    )
