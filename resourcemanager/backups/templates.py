"""Templates: backups a scope names, to restore by name (a seed for CLEANUP, a fixture for
a new resource) and to keep: retention never removes a named backup. Naming and unnaming
are RESOURCE_ADMIN's and ADMIN's, audited as ``resource.backup_template``."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from audit.models import AuditEntry
from resourcemanager.backups.models import Backup, RunStatus
from resourcemanager.backups.services import get_backup
from resourcemanager.core.errors import Conflict
from resourcemanager.core.validation import validate_name
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import audit_resource


def name_template(principal: Principal | None, resource: Resource, backup_id: object,
                  name: object) -> Backup:
    """Give the completed backup ``backup_id`` of ``resource`` the template name ``name``
    (unique in the scope), or take its name away (``name`` null or empty)."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    backup = get_backup(principal, resource, backup_id)
    if name in (None, ""):
        name = ""
    else:
        name = validate_name(name)
        if backup.status != RunStatus.COMPLETED:
            raise Conflict(f"the backup is {backup.status}; only a completed backup is a "
                           "template", code="backup_not_completed", field="backup")
    try:
        with transaction.atomic():
            Backup.objects.filter(pk=backup.pk).update(template_name=name)
            audit_resource(principal.name, "resource.backup_template",
                           AuditEntry.Outcome.SUCCESS, resource,
                           f"backup {backup.pk} named {name!r}" if name
                           else f"backup {backup.pk} no longer a template")
    except IntegrityError:
        raise Conflict(f"the scope has a template named {name!r} already",
                       code="template_exists", field="name") from None
    backup.template_name = name
    return backup
