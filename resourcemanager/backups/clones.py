"""CLONE: a new resource of the scope made with a copy of another one's data, the dump
of the source streamed into the restore of the copy in one pass (never through the
backup store, never whole in memory nor on disk); or made from one of the scope's
backups (``create_from_backup``), restored as a RESTORE would.

The request checks access, the source's state and the scope's quota, and in one
transaction records the new resource (its CREATE queued, as for any new resource), the
clone and the audit entries, and queues the clone's run. The run waits until the new
resource is ready, then holds the lease of both resources while the data flows: no other
operation of either runs meanwhile. A clone that fails deletes the resource it made (its
database and logins dropped, its record ``deleted``); the clone keeps the reason.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEntry
from providers.adapters.base import Credentials, ProviderError
from resourcemanager.backups import checks
from resourcemanager.backups.models import UNFINISHED, Clone, RunStatus
from resourcemanager.backups.progress import Progress
from resourcemanager.backups.runs import (
    RESTORE_FAILURES,
    LeaseLost,
    kept_alive,
    record_success,
    restore_backup,
    settle,
)
from resourcemanager.core.errors import Conflict, InvalidInput
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.outbox import events, relay
from resourcemanager.resources import failures, services
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import (
    Claim,
    Operation,
    OperationBusy,
    audit_resource,
    claim_resource,
    locked_resource,
    record_outcome,
)
from resourcemanager.telemetry import metrics

Outcome = AuditEntry.Outcome
Status = Resource.Status


def request_clone(principal: Principal, source: Resource, *, name: object,
                  provider: object = None, tags: object = None) -> Clone:
    """Record a new resource ``name`` (on ``provider``, by default the source's instance)
    that will hold a copy of ``source``'s data, and queue its creation and the copy. The
    same clone asked again while it is under way is that one."""
    require(principal, Action.MANAGE_RESOURCE, source.scope)
    source_class = checks.data_class(source, store=False)
    instance = services.resolve_provider(source.scope, provider or source.provider.key)
    if instance.adapter_class.dump_format != source_class.dump_format:
        raise InvalidInput(f"a {instance.adapter_class.label} resource cannot take a copy of "
                           f"a {source_class.label} resource's data",
                           code="incompatible_provider", field="provider")
    wanted = services.prepare_resource(principal, source.scope, provider=instance.key,
                                       name=name, tags=tags, properties=source.properties)
    with transaction.atomic():
        source = checks.ready(locked_resource(source.pk), "cloned")
        under_way = Clone.objects.filter(
            source=source, backup__isnull=True, status__in=UNFINISHED,
            resource__name=wanted.name, resource__provider=wanted.provider).first()
        if under_way is not None:
            return under_way
        checks.require_idle(source)
        made = services.create_resource(principal, wanted)
        clone = Clone.objects.create(scope=source.scope, resource=made, source=source,
                                     created_by=principal.name)
        audit_resource(principal.name, "resource.clone", Outcome.ACCEPTED, made,
                       f"clone {clone.pk} of resource {source.pk}")
        relay.enqueue_data_operation(made, Operation.CLONE, clone.pk, principal.name)
    return clone


def create_from_backup(principal: Principal, wanted: services.ResourceRequest,
                       backup: object) -> Clone:
    """Record the new resource ``wanted`` and a clone restoring ``backup`` (a completed
    backup of the scope, of the format the new resource takes) into it once it is made,
    and queue both."""
    require(principal, Action.MANAGE_RESOURCE, wanted.scope)
    adapter_class = wanted.provider.adapter_class
    chosen = checks.scope_backup(principal, wanted.scope, backup, field="from_backup")
    if chosen.format != adapter_class.dump_format:
        raise Conflict(f"the backup is a {chosen.format} dump, which a "
                       f"{adapter_class.label} resource does not take",
                       code="incompatible_backup", field="from_backup")
    checks.require_store()
    with transaction.atomic():
        made = services.create_resource(principal, wanted)
        clone = Clone.objects.create(scope=wanted.scope, resource=made,
                                     source_id=chosen.resource_id, backup=chosen,
                                     created_by=principal.name)
        audit_resource(principal.name, "resource.clone", Outcome.ACCEPTED, made,
                       f"clone {clone.pk} of backup {chosen.pk}")
        relay.enqueue_data_operation(made, Operation.CLONE, clone.pk, principal.name)
    return clone


def clones_of(principal: Principal | None, resource: Resource):
    """The clones made of ``resource`` or making it that ``principal`` may see, newest
    first."""
    return Clone.objects.visible_to(principal, Action.VIEW_RESOURCE, resource.scope).filter(
        Q(resource=resource) | Q(source=resource))


def run_clone(resource_id: str, clone_id: str, *, actor: str, last_attempt: bool = True
              ) -> None:
    """Copy the source's data into the new resource ``resource_id`` once it is ready, and
    record the outcome. Raises ``OperationBusy`` while the new resource is being made, or
    while another run holds either resource."""
    clone = Clone.objects.select_related("backup").filter(
        pk=clone_id, resource_id=resource_id).first()
    if clone is None or clone.status not in UNFINISHED:
        return  # done: a repeated message
    status = Resource.objects.filter(pk=resource_id).values_list("status", flat=True).first()
    if status in (Status.PENDING, Status.CREATING):
        raise OperationBusy("the new resource is not made yet")
    if status != Status.READY:
        _give_up(clone, actor, f"the new resource is {status or 'gone'}")
        return
    if clone.backup_id is not None:
        _restore(clone, actor, last_attempt)
        return
    source_claim = claim_resource(str(clone.source_id), Operation.CLONE,
                                  last_attempt=last_attempt)
    if source_claim is None:
        _give_up(clone, actor, "the source resource is no longer ready")
        return
    try:
        claim = claim_resource(resource_id, Operation.CLONE, last_attempt=last_attempt)
    except OperationBusy:
        _release(source_claim)
        raise
    if claim is None:
        _release(source_claim)
        _give_up(clone, actor, "the new resource is no longer ready")
        return
    _copy(clone, source_claim, claim, actor)


def _copy(clone: Clone, source_claim: Claim, claim: Claim, actor: str) -> None:
    """The source's dump into the new resource's restore, under both leases."""
    _started(clone)
    source, made, started = source_claim.resource, claim.resource, time.monotonic()
    progress = Progress(clone, "copied")
    try:
        with source.provider.adapter().dump(Credentials.from_dict(source.credentials)) as dump:
            made.provider.adapter().restore(
                Credentials.from_dict(made.credentials),
                kept_alive(progress.counted(dump), source_claim, claim),
                owner=made.backend_name)
    except (ProviderError, LeaseLost) as exc:
        message = failures.log_failure(
            f"clone {clone.pk} of resource {source.pk} into {made.pk} failed", str(exc))
        _release(source_claim)
        record_outcome(claim, lambda resource: _discard(resource, clone, actor, message))
        return
    duration = round(time.monotonic() - started, 3)
    _release(source_claim)
    record_outcome(claim, lambda resource: _cloned(resource, clone, actor, progress.done,
                                                   duration))
    _settled(clone, actor)


def _restore(clone: Clone, actor: str, last_attempt: bool) -> None:
    """The clone's backup restored into the new resource, under its lease."""
    claim = claim_resource(str(clone.resource_id), Operation.CLONE, last_attempt=last_attempt)
    if claim is None:
        _give_up(clone, actor, "the new resource is no longer ready")
        return
    _started(clone)
    started, progress = time.monotonic(), Progress(clone, "copied")
    try:
        restore_backup(clone.backup, claim, progress)
    except RESTORE_FAILURES as exc:
        message = failures.log_failure(
            f"clone {clone.pk} of backup {clone.backup_id} failed", str(exc))
        record_outcome(claim, lambda resource: _discard(resource, clone, actor, message))
        return
    duration = round(time.monotonic() - started, 3)
    record_outcome(claim, lambda resource: _cloned(resource, clone, actor, progress.done,
                                                   duration))
    _settled(clone, actor)


def _started(clone: Clone) -> None:
    Clone.objects.filter(pk=clone.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), status_message="")


def _settled(clone: Clone, actor: str) -> None:
    """After the outcome was recorded: a clone still unfinished lost the new resource's
    lease before it was, and the resource it made goes."""
    lost = "its run lost the new resource's lease before it was recorded"
    if settle(clone, lost):
        _give_up(clone, actor, lost)


def _release(claim: Claim) -> None:
    """Give back a lease taken only to keep other runs away, changing nothing."""
    record_outcome(claim, lambda resource: None)


def _cloned(resource: Resource, clone: Clone, actor: str, copied: int, duration: float
            ) -> None:
    Clone.objects.filter(pk=clone.pk).update(
        status=RunStatus.COMPLETED, copied=copied, duration=duration,
        completed_at=timezone.now())
    record_success(resource, Operation.CLONE, actor, events.CLONED,
                   f"clone {clone.pk} of resource {clone.source_id}: {copied} bytes copied "
                   f"in {duration} s")


def _give_up(clone: Clone, actor: str, message: str) -> None:
    """Fail ``clone`` and delete the resource it made, in one transaction."""
    with transaction.atomic():
        _discard(locked_resource(clone.resource_id), clone, actor, message)


def _discard(resource: Resource, clone: Clone, actor: str, message: str) -> None:
    """In the caller's transaction, ``resource`` locked: the clone failed with
    ``message``; the resource it made is deleted (a DELETE queued), unless it is going
    already."""
    settle(clone, message)
    audit_resource(actor, "resource.clone", Outcome.FAILURE, resource,
                   failures.tenant_message(message, resource.provider))
    metrics.provider_operation(resource, Operation.CLONE, "failure")
    if resource.status in (Status.DELETING, Status.DELETED):
        return
    resource.status = Status.DELETING
    resource.status_message = "its clone failed; it is deleted"
    resource.save(update_fields=["status", "status_message", "updated_at"])
    audit_resource(actor, "resource.delete", Outcome.ACCEPTED, resource, "its clone failed")
    relay.enqueue_operation(resource, Operation.DELETE.value, actor)
