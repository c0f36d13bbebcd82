"""What data operations (BACKUP, RESTORE, CLEANUP, CLONE) ask of a resource and of a
backup before they are accepted, each refusal a clear 4xx."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from providers.adapters.base import ProviderAdapter
from resourcemanager.backups.models import UNFINISHED, Backup, Cleanup, Clone, Restore, RunStatus
from resourcemanager.backups.store import configured
from resourcemanager.core.errors import Conflict, NotFound
from resourcemanager.identity.roles import Action, Principal
from resourcemanager.resources.models import Resource


def data_class(resource: Resource, *, store: bool = True) -> type[ProviderAdapter]:
    """The resource's adapter class, if its data can be dumped and restored (and, with
    ``store``, the backup store is configured); else a clear 409."""
    if not resource.managed:
        raise Conflict("an unmanaged resource is read-only; its data is not handled here",
                       code="unmanaged")
    adapter_class = resource.provider.adapter_class
    if not adapter_class.dump_format:
        raise Conflict(f"the data of {adapter_class.label} resources is not handled yet",
                       code="not_offered")
    if store:
        require_store()
    return adapter_class


def require_store() -> None:
    if not configured():
        raise Conflict("backups are not configured on this server: its operator sets "
                       "RM_BACKUP_STORE_URL", code="backups_not_configured")


def ready(resource: Resource, verb: str) -> Resource:
    if resource.status != Resource.Status.READY:
        raise Conflict(f"a {resource.status} resource cannot be {verb}", code="invalid_state")
    return resource


def require_unfrozen(resource: Resource, what: str) -> None:
    """409 for a frozen resource: its logins may still drop objects but no longer make
    them, so ``what`` (a restore into it) would lose the objects it replaces."""
    if resource.frozen:
        raise Conflict(f"the resource is frozen ({resource.frozen_reason}): {what} would "
                       "drop objects it could not make again; once it is under its limit "
                       "again (an operator raises it, or its data shrinks), try again",
                       code="frozen")


def require_idle(resource: Resource) -> None:
    """409 while a run holds the resource, or a restore, cleanup or clone of it waits."""
    if resource.lease_expires_at is not None and resource.lease_expires_at > timezone.now():
        raise Conflict(f"a {resource.operation or 'previous'} run of this resource is under "
                       "way; try again once it is over", code="operation_running")
    waiting = (Restore.objects.filter(resource=resource, status__in=UNFINISHED).exists()
               or Cleanup.objects.filter(resource=resource, status__in=UNFINISHED).exists()
               or Clone.objects.filter(Q(resource=resource)
                                       | Q(source=resource, backup__isnull=True),
                                       status__in=UNFINISHED).exists())
    if waiting:
        raise Conflict("another restore, cleanup or clone of this resource is under way; "
                       "try again once it is over", code="operation_running")


def restorable_backup(principal: Principal | None, resource: Resource, backup_id: object,
                      *, field: str = "backup") -> Backup:
    """The completed backup ``backup_id`` of any resource of ``resource``'s scope that
    ``principal`` may see, of the format ``resource`` takes. Another scope's backup is
    as unknown as one that does not exist."""
    found = scope_backup(principal, resource.scope, backup_id, field=field)
    if found.format != resource.provider.adapter_class.dump_format:
        raise Conflict(f"the backup is a {found.format} dump, which this resource does "
                       "not take", code="incompatible_backup", field=field)
    return found


def scope_backup(principal: Principal | None, scope: str, backup_id: object, *,
                 field: str) -> Backup:
    """The completed backup ``backup_id`` (its id, or its template name) of ``scope`` that
    ``principal`` may see; another scope's backup is as unknown as one that does not
    exist."""
    visible = Backup.objects.visible_to(principal, Action.VIEW_RESOURCE, scope).filter(
        scope=scope)
    found = visible.with_id(backup_id)
    if found is None and isinstance(backup_id, str) and backup_id:
        found = visible.filter(template_name=backup_id).first()
    if found is None:
        raise NotFound("no such backup in this scope", field=field)
    if found.status != RunStatus.COMPLETED:
        raise Conflict(f"the backup is {found.status}; only a completed backup is restored",
                       code="backup_not_completed", field=field)
    return found
