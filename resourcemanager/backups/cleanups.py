"""CLEANUP: a resource emptied of its data, keeping the resource, its logins and their
privileges; then, if asked, a template (a completed backup of the scope, of the format
the resource takes) restored into it.

The request checks access and state, records the cleanup and its audit entry and queues
the run through the outbox in one transaction; the run empties the resource as its
owner (``adapter.empty``) under the resource's lease, then restores the template as a
RESTORE would.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from providers.adapters.base import Credentials
from resourcemanager.backups import checks
from resourcemanager.backups.models import Cleanup, RunStatus
from resourcemanager.backups.runs import (
    RESTORE_FAILURES,
    claim_run,
    record_failure,
    record_success,
    require_writable,
    restore_backup,
    settle,
)
from resourcemanager.backups.services import require_confirmation
from resourcemanager.core.errors import Conflict
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.outbox import events, relay
from resourcemanager.resources import failures
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import (
    Operation,
    audit_resource,
    locked_resource,
    record_outcome,
)

Outcome = AuditEntry.Outcome


def request_cleanup(principal: Principal, resource: Resource, *, confirm: object = None,
                    template: object = None) -> Cleanup:
    """Record a cleanup of ``resource`` (then ``template`` restored into it) and queue it,
    once ``confirm`` names the resource whose data it drops."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    if not checks.data_class(resource, store=template is not None).empties:
        raise Conflict(f"{resource.provider.adapter_class.label} resources are not cleaned "
                       "up yet", code="not_offered")
    require_confirmation(resource, confirm, "a cleanup drops all the data of {name!r}")
    chosen = None if template is None else checks.restorable_backup(
        principal, resource, template, field="template")
    with transaction.atomic():
        resource = checks.ready(locked_resource(resource.pk), "cleaned up")
        if chosen is not None:  # without a template a cleanup only drops: that it may
            checks.require_unfrozen(resource, "restoring the template")
        checks.require_idle(resource)
        cleanup = Cleanup.objects.create(scope=resource.scope, resource=resource,
                                         template=chosen, created_by=principal.name)
        audit_resource(principal.name, "resource.cleanup", Outcome.ACCEPTED, resource,
                       _described(cleanup))
        relay.enqueue_data_operation(resource, Operation.CLEANUP, cleanup.pk, principal.name)
    return cleanup


def cleanups_of(principal: Principal | None, resource: Resource):
    """The cleanups of ``resource`` that ``principal`` may see, newest first."""
    return Cleanup.objects.visible_to(principal, Action.VIEW_RESOURCE, resource.scope).filter(
        resource=resource)


def run_cleanup(resource_id: str, cleanup_id: str, *, actor: str,
                last_attempt: bool = True) -> None:
    """Carry out the CLEANUP recorded as ``cleanup_id`` and record its outcome. Raises
    ``OperationBusy`` while another run holds the resource."""
    cleanup = (Cleanup.objects.select_related("template")
               .filter(pk=cleanup_id, resource_id=resource_id).first())
    claim = claim_run(cleanup, Operation.CLEANUP, last_attempt)
    if claim is None:
        return
    resource, started = claim.resource, time.monotonic()
    try:
        if cleanup.template is not None:
            require_writable(resource)
        resource.provider.adapter().empty(Credentials.from_dict(resource.credentials),
                                          owner=resource.backend_name)
        if cleanup.template is not None:
            restore_backup(cleanup.template, claim)
    except RESTORE_FAILURES as exc:
        message = failures.log_failure(
            f"cleanup {cleanup.pk} of resource {resource.pk} failed", str(exc))
        record_outcome(claim, lambda resource: record_failure(
            resource, cleanup, actor, message, Operation.CLEANUP))
        return
    duration = round(time.monotonic() - started, 3)
    record_outcome(claim, lambda resource: _cleaned_up(resource, cleanup, actor, duration))
    settle(cleanup, "its run lost the resource's lease before it was recorded")


def _cleaned_up(resource: Resource, cleanup: Cleanup, actor: str, duration: float) -> None:
    Cleanup.objects.filter(pk=cleanup.pk).update(
        status=RunStatus.COMPLETED, duration=duration, completed_at=timezone.now())
    record_success(resource, Operation.CLEANUP, actor, events.CLEANED_UP,
                   f"{_described(cleanup)} in {duration} s")


def _described(cleanup: Cleanup) -> str:
    what = f"cleanup {cleanup.pk}"
    return what if cleanup.template_id is None else f"{what}, template backup {cleanup.template_id}"
