"""Backup and restore requests. The API and the admin go through here.

BACKUP and RESTORE check access and state, record the backup (its data key made here,
stored encrypted) or the restore and the audit entry, and queue the run through the
outbox in one transaction; ``resourcemanager.backups.runs`` carries it out under the
resource's lease.
"""

from __future__ import annotations

import base64
from typing import Any

from django.db import transaction

from audit.models import AuditEntry
from resourcemanager.backups import checks
from resourcemanager.backups.models import UNFINISHED, Backup, Cleanup, Clone, Restore
from resourcemanager.backups.sealing import new_data_key
from resourcemanager.backups.store import StoreError, object_key
from resourcemanager.core.errors import Conflict, InvalidInput, NotFound
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.outbox import relay
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import Operation, audit_resource, locked_resource

Outcome = AuditEntry.Outcome


def request_backup(principal: Principal, resource: Resource, *, scheduled: bool = False
                   ) -> Backup:
    """Record a backup of ``resource`` and queue it. While one is pending or running, that
    one is the answer: asking again is harmless. ``scheduled``: its schedule asks, and
    its retention applies to the backup."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    adapter_class = checks.data_class(resource)
    with transaction.atomic():
        resource = checks.ready(locked_resource(resource.pk), "backed up")
        under_way = resource.backups.filter(status__in=UNFINISHED).first()
        if under_way is not None:
            return under_way
        backup = Backup(scope=resource.scope, resource=resource, created_by=principal.name,
                        format=adapter_class.dump_format, scheduled=scheduled,
                        compressed=not adapter_class.dump_compressed,
                        data_key=base64.b64encode(new_data_key()).decode())
        backup.object_key = store_key(f"{resource.scope}/{resource.pk}/{backup.pk}.rmbackup")
        backup.save()
        audit_resource(principal.name, "resource.backup", Outcome.ACCEPTED, resource,
                       f"backup {backup.pk}")
        relay.enqueue_data_operation(resource, Operation.BACKUP, backup.pk, principal.name)
    return backup


def request_restore(principal: Principal, resource: Resource, *, backup: object,
                    confirm: object = None) -> Restore:
    """Record a restore of ``backup`` into ``resource`` and queue it, once ``confirm``
    names the resource whose data it replaces. The backup may be of any resource of the
    scope whose format ``resource`` takes (a copy into another resource). The same
    restore asked again while it is under way is that one; another data operation of the
    resource then waits for it (409)."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    checks.data_class(resource)
    require_confirmation(resource, confirm, "a restore replaces the data of {name!r} with "
                                            "the backup's")
    chosen = checks.restorable_backup(principal, resource, backup)
    with transaction.atomic():
        resource = checks.ready(locked_resource(resource.pk), "restored")
        under_way = resource.restores.filter(status__in=UNFINISHED).first()
        if under_way is not None and under_way.backup_id == chosen.pk:
            return under_way
        checks.require_unfrozen(resource, "a restore")
        checks.require_idle(resource)
        restore = Restore.objects.create(scope=resource.scope, resource=resource,
                                         backup=chosen, created_by=principal.name)
        audit_resource(principal.name, "resource.restore", Outcome.ACCEPTED, resource,
                       f"backup {chosen.pk}" + (
                           "" if chosen.resource_id == resource.pk
                           else f" of resource {chosen.resource_id}"))
        relay.enqueue_data_operation(resource, Operation.RESTORE, restore.pk, principal.name)
    return restore


class ConfirmationRequired(InvalidInput):
    """A request replacing a resource's data without its name to confirm it: the message
    asks for it in the API's words; ``consequence`` (what the request would do) and
    ``name`` are for pages that ask for it otherwise."""

    code = "confirmation_required"

    def __init__(self, consequence: str, name: str) -> None:
        super().__init__(f"{consequence}; confirm with \"confirm\": {name!r}", field="confirm")
        self.consequence, self.name = consequence, name


def require_confirmation(resource: Resource, confirm: object, what: str) -> None:
    """400 unless ``confirm`` is the name of ``resource``, whose data the request replaces
    (``what`` says how, with ``{name}``)."""
    if confirm != resource.name:
        raise ConfirmationRequired(what.format(name=resource.name), resource.name)


def backups_of(principal: Principal | None, resource: Resource):
    """The backups of ``resource`` that ``principal`` may see, newest first."""
    return Backup.objects.visible_to(principal, Action.VIEW_RESOURCE, resource.scope).filter(
        resource=resource)


def restores_of(principal: Principal | None, resource: Resource):
    """The restores into ``resource`` that ``principal`` may see, newest first."""
    return Restore.objects.visible_to(principal, Action.VIEW_RESOURCE, resource.scope).filter(
        resource=resource).select_related("backup")


def get_backup(principal: Principal | None, resource: Resource, backup_id: object) -> Backup:
    found = backups_of(principal, resource).with_id(backup_id)
    if found is None:
        raise NotFound("no such backup of this resource", field="backup")
    return found


def get_restore(principal: Principal | None, resource: Resource, restore_id: object
                ) -> Restore:
    found = restores_of(principal, resource).with_id(restore_id)
    if found is None:
        raise NotFound("no such restore of this resource")
    return found


def forget_scope(sender: object, *, principal: Principal, scope: str, **kwargs: Any) -> str:
    """``scope_deleting``: the scope's backups, restores, cleanups and clones go with it.
    Their objects stay in the store, unreadable: each one's key was under the scope's data
    key, which the deletion destroys."""
    for runs in (Restore, Cleanup, Clone):
        runs.objects.filter(scope=scope).delete()
    _, removed = Backup.objects.filter(scope=scope).delete()
    return f"{removed.get(Backup._meta.label, 0)} backup(s)"


def store_key(name: str) -> str:
    try:
        return object_key(name)
    except StoreError as exc:
        raise Conflict(str(exc), code="backups_not_configured") from None
