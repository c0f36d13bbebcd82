"""Running BACKUP and RESTORE of a resource, under its lease (``claim_resource``), so
never at the same time as another of its operations.

BACKUP streams the adapter's dump, logged in as the resource's owner, through sealing
(compression, then AES-GCM under the backup's own key) into a multipart upload: the dump
is never whole in memory nor on disk. A dump or upload that fails midway aborts the
upload, so a failed backup leaves no object. RESTORE first reads the stored object
through and compares its SHA-256 with the recorded one, then streams it, opened, into the
adapter's restore as the owner: a damaged backup never reaches the server.

A long run keeps its lease alive as it streams. Runs are idempotent: a repeated message
finds its backup or restore over and does nothing; a run a lost worker left unfinished
starts again from scratch when the outbox publishes its message again.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils import timezone

from audit.models import AuditEntry
from providers.adapters.base import Credentials, ProviderError
from resourcemanager.backups import drills
from resourcemanager.backups.models import UNFINISHED, Backup, Restore, RunStatus
from resourcemanager.backups.progress import Progress
from resourcemanager.backups.sealing import SealError, seal, unseal
from resourcemanager.backups.store import Stored, StoreError, backup_store
from resourcemanager.outbox import events, relay
from resourcemanager.resources import failures
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import (
    Claim,
    Operation,
    RetryLater,
    audit_resource,
    claim_resource,
    extend_lease,
    record_outcome,
)
from resourcemanager.telemetry import metrics

Outcome = AuditEntry.Outcome
#: Seconds between two extensions of a streaming run's lease.
_KEEP_ALIVE = 60.0


class Refused(Exception):
    """The backup may not be restored (damaged, of another format, not completed)."""


class LeaseLost(Exception):
    """The run's lease was taken over (it ran past ``RM_OPERATION_TIMEOUT`` unseen)."""


#: What fails a restoring run with its reason (anything else is a bug: the task fails
#: the run naming only its type).
RESTORE_FAILURES = (ProviderError, StoreError, SealError, Refused, LeaseLost)


def run_data_operation(resource_id: str, run_id: str, operation: str, *, actor: str,
                       last_attempt: bool = True) -> None:
    """Carry out the BACKUP or RESTORE recorded as ``run_id`` and record its outcome.
    Raises ``OperationBusy`` while another run holds the resource."""
    if Operation(operation) == Operation.BACKUP:
        _run_backup(resource_id, run_id, actor, last_attempt)
    else:
        _run_restore(resource_id, run_id, actor, last_attempt)


def _run_backup(resource_id: str, backup_id: str, actor: str, last_attempt: bool) -> None:
    backup = Backup.objects.filter(pk=backup_id, resource_id=resource_id).first()
    claim = claim_run(backup, Operation.BACKUP, last_attempt)
    if claim is None:
        return
    resource, started = claim.resource, time.monotonic()
    adapter = resource.provider.adapter()
    dumped = Progress(backup, "dump_size")
    try:
        store = backup_store()
        credentials = Credentials.from_dict(resource.credentials)
        with adapter.dump(credentials) as chunks:
            manifest = adapter.manifest(credentials)  # as the dump's own snapshot begins
            sealed = seal(kept_alive(dumped.counted(chunks), claim), data_key(backup),
                          compress=not adapter.dump_compressed)
            stored = store.upload(backup.object_key, sealed)
    except (ProviderError, StoreError, LeaseLost) as exc:
        if getattr(exc, "transient", False) and not claim.last_attempt:
            _retry_later(claim, backup, str(exc))
        message = failures.log_failure(
            f"backup {backup.pk} of resource {resource.pk} failed", str(exc))
        record_outcome(claim, lambda resource: record_failure(resource, backup, actor, message))
        return
    duration = round(time.monotonic() - started, 3)
    record_outcome(claim, lambda resource: _backed_up(
        resource, backup, actor, stored, dumped.done, duration, {"tables": manifest}))
    if settle(backup, "its run lost the resource's lease before it was recorded"):
        store.delete(backup.object_key)


def _run_restore(resource_id: str, restore_id: str, actor: str, last_attempt: bool) -> None:
    restore = (Restore.objects.select_related("backup")
               .filter(pk=restore_id, resource_id=resource_id).first())
    claim = claim_run(restore, Operation.RESTORE, last_attempt)
    if claim is None:
        return
    resource, started = claim.resource, time.monotonic()
    restored = Progress(restore, "restored")
    try:
        restore_backup(restore.backup, claim, restored)
    except RESTORE_FAILURES as exc:
        message = failures.log_failure(
            f"restore {restore.pk} of resource {resource.pk} failed", str(exc))
        record_outcome(claim, lambda resource: record_failure(resource, restore, actor, message))
        return
    duration = round(time.monotonic() - started, 3)
    record_outcome(claim, lambda resource: _restored(resource, restore, actor, restored.done,
                                                     duration))
    settle(restore, "its run lost the resource's lease before it was recorded")


def restore_backup(backup: Backup, claim: Claim, progress: Progress | None = None) -> None:
    """Restore ``backup`` into the claimed resource as its owner, once it proves a
    completed backup of the resource's scope and format, stored whole; its dump's bytes
    counted by ``progress``. Raises ``Refused``, ``ProviderError``, ``StoreError``,
    ``SealError`` or ``LeaseLost``."""
    resource = claim.resource
    adapter = resource.provider.adapter()
    require_writable(resource)
    if backup.status != RunStatus.COMPLETED or backup.scope != resource.scope:
        raise Refused("the backup is not a completed backup of this resource's scope")
    if backup.format != adapter.dump_format:
        raise Refused(f"the backup is a {backup.format} dump; this resource takes "
                      f"{adapter.dump_format or 'none'}")
    store = backup_store()
    if store.checksum(backup.object_key) != backup.sha256:
        raise Refused("the stored backup does not match its checksum: it is damaged; "
                      "nothing was restored")
    if backup.origin == Backup.Origin.IMPORT and not adapter.restores_atomically:
        try:  # a server that cannot undo a restore halfway tries an upload aside first
            drills.restored_on_scratch(resource, backup, lambda opened: kept_alive(opened, claim))
        except drills.DrillFailed as exc:
            raise Refused(f"the uploaded dump does not restore on a scratch copy, so the "
                          f"resource was left as it was: {exc}") from None
    opened = unseal(store.read(backup.object_key), data_key(backup),
                    compressed=backup.compressed)
    if progress is not None:
        opened = progress.counted(opened)
    adapter.restore(Credentials.from_dict(resource.credentials), kept_alive(opened, claim),
                    owner=resource.backend_name)


def require_writable(resource: Resource) -> None:
    """Refuse to restore into ``resource`` (as claimed) while it is frozen, before anything
    is dropped: its logins keep DROP but lose CREATE, so the objects a restore replaces
    would be gone for good (a freeze may come between the request and its run)."""
    if resource.frozen:
        raise Refused(f"the resource is frozen ({resource.frozen_reason}), so nothing was "
                      "restored: a restore would drop objects it could not make again")


def claim_run(run: Any, operation: Operation, last_attempt: bool) -> Claim | None:
    """The resource's lease for ``run``, which is then running; None when there is
    nothing to do (over already, or the resource no longer ready: then it failed)."""
    if run is None or run.status not in UNFINISHED:
        return None  # done: a repeated message
    claim = claim_resource(str(run.resource_id), operation, last_attempt=last_attempt)
    if claim is None:
        status = Resource.objects.filter(pk=run.resource_id).values_list(
            "status", flat=True).first()
        settle(run, f"the resource is {status or 'gone'}")
        return None
    type(run).objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), status_message="")
    return claim


def _retry_later(claim: Claim, backup: Backup, message: str) -> None:
    """A transient failure with attempts left: the backup waits, pending, for the task to
    run it again after a backoff (raises ``RetryLater``); nothing of it is stored."""
    failures.log_failure(f"backup {backup.pk} of resource {claim.resource.pk} will be "
                         "retried", message)
    Backup.objects.filter(pk=backup.pk, status__in=UNFINISHED).update(
        status=RunStatus.PENDING, status_message=f"{failures.RETRYING}{message}")
    record_outcome(claim, lambda resource: None, finished=False)
    raise RetryLater(message, attempt=claim.resource.attempts)


def kept_alive(chunks: Iterable[bytes], *claims: Claim) -> Iterator[bytes]:
    """``chunks``, extending the run's leases now and then; raises ``LeaseLost``."""
    last = time.monotonic()
    for chunk in chunks:
        if time.monotonic() - last > _KEEP_ALIVE:
            if not all([extend_lease(claim) for claim in claims]):
                raise LeaseLost("the run lost the resource's lease (it took longer than "
                                "RM_OPERATION_TIMEOUT without being heard of)")
            last = time.monotonic()
        yield chunk


def data_key(backup: Backup) -> bytes:
    return base64.b64decode(backup.data_key)


def _backed_up(resource: Resource, backup: Backup, actor: str, stored: Stored, dumped: int,
               duration: float, manifest: dict) -> None:
    Backup.objects.filter(pk=backup.pk).update(
        status=RunStatus.COMPLETED, size=stored.size, sha256=stored.sha256,
        dump_size=dumped, duration=duration, manifest=manifest, completed_at=timezone.now())
    record_success(resource, Operation.BACKUP, actor, events.BACKED_UP,
               f"backup {backup.pk}: {stored.size} bytes stored in {duration} s")


def _restored(resource: Resource, restore: Restore, actor: str, restored: int,
              duration: float) -> None:
    Restore.objects.filter(pk=restore.pk).update(
        status=RunStatus.COMPLETED, restored=restored, duration=duration,
        completed_at=timezone.now())
    record_success(resource, Operation.RESTORE, actor, events.RESTORED,
               f"backup {restore.backup_id} restored in {duration} s")


def record_success(resource: Resource, operation: Operation, actor: str, event: str,
               message: str) -> None:
    audit_resource(actor, f"resource.{operation}", Outcome.SUCCESS, resource, message)
    metrics.provider_operation(resource, operation, "success")
    relay.emit_event(resource, event, actor)


def record_failure(resource: Resource, run: Any, actor: str, message: str,
                   operation: Operation | None = None) -> None:
    """The detail for operators on the run; tenants read what they may of it (the
    audit trail and the API show it through ``failures.tenant_message``). ``operation``:
    the run's, when it is neither a backup nor a restore."""
    settle(run, message)
    operation = operation or (
        Operation.BACKUP if isinstance(run, Backup) else Operation.RESTORE)
    audit_resource(actor, f"resource.{operation}", Outcome.FAILURE, resource,
                   failures.tenant_message(message, resource.provider))
    metrics.provider_operation(resource, operation, "failure")


def settle(run: Any, message: str) -> bool:
    """Fail ``run`` with ``message`` if it is not over; whether it was not."""
    return bool(type(run).objects.filter(pk=run.pk, status__in=UNFINISHED).update(
        status=RunStatus.FAILED, status_message=message, completed_at=timezone.now()))
