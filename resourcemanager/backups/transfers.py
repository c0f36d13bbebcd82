"""EXPORT and IMPORT: a tenant takes a backup out as the dump its server's own tools
read (``pg_restore``, ``mysql``), or brings such a dump in as a backup of the resource.

EXPORT streams a completed backup to the client, opened as it is read (decrypted, and
decompressed where the backup compressed it): it is never stored opened, so there is no
plain copy at rest to expire or leak. IMPORT streams the upload, once its first bytes
show it is a dump of the resource's kind, through sealing into the backup store; it
becomes a completed backup of the resource, listed and restored like any other. RESTORE
runs as the resource's owner login, so statements in an uploaded dump that need more
than the owner's privileges fail (on PostgreSQL the whole restore then changes nothing).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEntry
from resourcemanager.backups import checks
from resourcemanager.backups.models import Backup, RunStatus
from resourcemanager.backups.sealing import SealError, new_data_key, seal, unseal
from resourcemanager.backups.services import backups_of, get_backup, store_key
from resourcemanager.backups.store import StoreError, backup_store
from resourcemanager.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import audit_resource

Outcome = AuditEntry.Outcome
#: Bytes of an upload read before it is accepted as a dump.
_HEAD = 4096
_READ_SIZE = 256 * 1024


class StoreUnavailable(ServiceError):
    status = 503
    code = "backup_store_unavailable"


class TooLarge(ServiceError):
    status = 413
    code = "too_large"


@dataclass(frozen=True)
class Export:
    """A backup's dump, ready to stream: ``chunks`` yields it, opened."""

    backup: Backup
    filename: str
    chunks: Iterator[bytes]


def export_backup(principal: Principal | None, resource: Resource,
                  backup_id: object = None) -> Export:
    """The dump of ``backup_id`` (default: the resource's newest completed backup), to
    stream to the client. Audited."""
    backup = exportable_backup(principal, resource, backup_id)
    return open_export(principal.name, resource, backup)


def exportable_backup(principal: Principal | None, resource: Resource,
                      backup_id: object = None) -> Backup:
    """The completed backup ``backup_id`` of ``resource`` (default: the newest), which
    ``principal`` may export."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    checks.data_class(resource)
    if backup_id is None:
        backup = backups_of(principal, resource).filter(status=RunStatus.COMPLETED).first()
        if backup is None:
            raise NotFound("the resource has no completed backup to export", field="backup")
        return backup
    backup = get_backup(principal, resource, backup_id)
    if backup.status != RunStatus.COMPLETED:
        raise Conflict(f"the backup is {backup.status}; only a completed backup is "
                       "exported", code="backup_not_completed", field="backup")
    return backup


def open_export(actor: str, resource: Resource, backup: Backup) -> Export:
    """``backup``'s dump, opened as it is read, exported on behalf of ``actor`` (audited).
    Store and key problems surface here, as a clear error, before anything is sent; a
    backup damaged further in ends the stream with an error instead of handing over a
    dump cut short unnoticed."""
    adapter_class = checks.data_class(resource)
    opened = unseal(backup_store().read(backup.object_key),
                    base64.b64decode(backup.data_key), compressed=backup.compressed)
    try:
        first = next(opened, b"")
    except StoreError as exc:
        raise StoreUnavailable(str(exc)) from None
    except SealError as exc:
        raise Conflict(f"the backup cannot be opened: {exc}", code="backup_damaged",
                       field="backup") from None
    audit_resource(actor, "resource.export", Outcome.SUCCESS, resource,
                   f"backup {backup.pk} exported")
    stamp = backup.created_at.strftime("%Y%m%dT%H%M%SZ")
    return Export(backup, f"{resource.name}-{stamp}.{adapter_class.dump_extension}",
                  itertools.chain([first], opened))


def import_dump(principal: Principal | None, resource: Resource, upload: BinaryIO,
                length: int | None) -> Backup:
    """Store the dump read from ``upload`` (``length`` bytes, as the request declares)
    as a completed backup of ``resource``, sealed like every backup. Refused before
    anything is stored when it is too large or not a dump of the resource's kind; an
    upload cut short or a store failure leaves no backup and no object. Audited."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    adapter_class = checks.data_class(resource)
    checks.ready(resource, "imported into")
    limit = settings.RM_BACKUP_IMPORT_MAX_BYTES
    if length is None or length <= 0:
        raise InvalidInput("send the dump as the request's body, with its Content-Length",
                           code="dump_required")
    if length > limit:
        raise TooLarge(f"the dump is {length} bytes; an import takes at most {limit} "
                       "(RM_BACKUP_IMPORT_MAX_MB)")
    head = upload.read(min(_HEAD, length))
    if not adapter_class.is_dump(head):
        raise InvalidInput(f"this is not a dump that a {adapter_class.label} resource "
                           f"restores (expected {adapter_class.dump_format})",
                           code="not_a_dump")
    backup = Backup(id=uuid.uuid4(), scope=resource.scope, resource=resource,
                    origin=Backup.Origin.IMPORT, created_by=principal.name,
                    format=adapter_class.dump_format,
                    compressed=not adapter_class.dump_compressed,
                    data_key=base64.b64encode(new_data_key()).decode())
    backup.object_key = store_key(f"{resource.scope}/{resource.pk}/{backup.pk}.rmbackup")
    began, started, digest = timezone.now(), time.monotonic(), hashlib.sha256()
    body = _exactly(itertools.chain([head], _chunks(upload)), length, digest)
    try:
        stored = backup_store().upload(
            backup.object_key, seal(body, base64.b64decode(backup.data_key),
                                    compress=backup.compressed))
    except StoreError as exc:
        audit_resource(principal.name, "resource.import", Outcome.FAILURE, resource, str(exc))
        raise StoreUnavailable(str(exc)) from None
    except _CutShort as exc:
        audit_resource(principal.name, "resource.import", Outcome.FAILURE, resource, str(exc))
        raise InvalidInput(str(exc), code="upload_cut_short") from None
    backup.status, backup.size, backup.sha256, backup.dump_size = (
        RunStatus.COMPLETED, stored.size, stored.sha256, length)
    backup.started_at, backup.completed_at = began, timezone.now()
    backup.duration = round(time.monotonic() - started, 3)
    backup.save()
    # Recorded once stored, but asked for when the upload began, as a backup is.
    backup.created_at = began
    Backup.objects.filter(pk=backup.pk).update(created_at=began)
    audit_resource(principal.name, "resource.import", Outcome.SUCCESS, resource,
                   f"backup {backup.pk}: a {length}-byte dump uploaded (SHA-256 "
                   f"{digest.hexdigest()})")
    return backup


class _CutShort(Exception):
    """The upload ended before its declared length."""


def _chunks(upload: BinaryIO) -> Iterator[bytes]:
    while chunk := upload.read(_READ_SIZE):
        yield chunk


def _exactly(chunks: Iterator[bytes], length: int, digest) -> Iterator[bytes]:
    """``chunks`` up to ``length`` bytes, counted into ``digest``; raises ``_CutShort``
    (which aborts the upload to the store) when they end before."""
    left = length
    for chunk in chunks:
        chunk = chunk[:left]
        digest.update(chunk)
        left -= len(chunk)
        yield chunk
        if not left:
            return
    raise _CutShort(f"the upload ended {left} bytes short of its Content-Length; "
                    "nothing was stored")
