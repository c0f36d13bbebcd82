"""Export links: a short-lived URL that downloads one backup's dump without credentials,
for a browser, ``curl`` on another host, or a tool that cannot send a bearer token.

The link carries a signature, not a copy: it names the scope, the resource, the backup
and who asked, signed with the installation's secret key (``SECRET_KEY``; keys in
``SECRET_KEY_FALLBACKS`` still verify during a key change), and is refused once
``RM_EXPORT_LINK_SECONDS`` have passed since it was made. The dump is opened as it is
read, as ``GET …/export`` does, so there is no plain copy at rest to expire or leak.
A link may be used more than once while it is valid (a broken download can be tried
again); each use is audited under the name of whoever asked for the link.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils import timezone

from audit.models import AuditEntry
from resourcemanager.backups.models import Backup, RunStatus
from resourcemanager.backups.transfers import Export, exportable_backup, open_export
from resourcemanager.core.errors import NotFound, ServiceError
from resourcemanager.identity.roles import Principal
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import audit_resource

_SALT = "resourcemanager.backups.export-link"
#: Characters of the link maker's name kept in the audit entry of a use (its actor holds
#: 150, a username as many).
_ACTOR_ROOM = 150 - len(" (export link)")


class LinkExpired(ServiceError):
    status = 410
    code = "link_expired"


@dataclass(frozen=True)
class ExportLink:
    token: str
    backup: Backup
    expires_at: datetime.datetime


def issue_export_link(principal: Principal | None, resource: Resource,
                      backup_id: object = None) -> ExportLink:
    """A link to the dump of ``backup_id`` (default: the newest completed backup), for
    those who may export it. Audited."""
    backup = exportable_backup(principal, resource, backup_id)
    seconds = settings.RM_EXPORT_LINK_SECONDS
    token = signing.dumps({"scope": resource.scope, "resource": str(resource.pk),
                           "backup": str(backup.pk), "by": principal.name}, salt=_SALT)
    audit_resource(principal.name, "resource.export_link", AuditEntry.Outcome.SUCCESS,
                   resource, f"a link to backup {backup.pk}, valid for {seconds} s")
    return ExportLink(token, backup, timezone.now() + datetime.timedelta(seconds=seconds))


def export_by_link(token: str) -> Export:
    """The dump a valid, unexpired link names, if its backup is still there."""
    try:
        claims = signing.loads(token, salt=_SALT, max_age=settings.RM_EXPORT_LINK_SECONDS)
    except signing.SignatureExpired:
        raise LinkExpired("this export link has expired; ask for a new one") from None
    except signing.BadSignature:
        raise NotFound("no such export link") from None
    resource = Resource.objects.filter(scope=claims["scope"]).live().with_id(claims["resource"])
    backup = (Backup.objects.filter(scope=claims["scope"], resource=resource,
                                    status=RunStatus.COMPLETED).with_id(claims["backup"])
              if resource is not None else None)
    if backup is None:
        raise NotFound("the backup this link named is gone")
    return open_export(f"{claims['by'][:_ACTOR_ROOM]} (export link)", resource, backup)
