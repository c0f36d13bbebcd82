"""Running a credential's operations: ISSUE makes its login, REVOKE drops it.

Both run under the resource's lease (``operations.claim_resource``), so never while the
resource is created, updated, checked or deleted, with no transaction open while the
backend is asked; the outcome is recorded on the credential in the short transaction that
releases the lease. A failure marks the credential, never the resource.
``sweep_credentials`` revokes expired credentials and queues again runs that were lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from providers.adapters.base import Access, Credentials, Login, ProviderError
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.outbox import relay
from resourcemanager.resources import failures
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.resources.operations import (
    Operation,
    RetryLater,
    claim_resource,
    record_outcome,
)
from resourcemanager.telemetry import metrics

logger = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome
Status = Credential.Status
#: The credential's status while its operation is wanted.
_WANTED = {Operation.ISSUE: Status.ISSUING, Operation.REVOKE: Status.REVOKING}


def run_credential_operation(
    resource_id: str, credential_id: str, operation: str, *, actor: str,
    last_attempt: bool = True,
) -> None:
    """Carry out ISSUE or REVOKE for one credential and record the outcome. Raises
    ``RetryLater`` after a transient failure (not on the ``last_attempt``) and
    ``OperationBusy`` while another run holds the resource."""
    operation = Operation(operation)
    credential = Credential.objects.filter(pk=credential_id, resource_id=resource_id).first()
    if credential is None or credential.status != _WANTED[operation]:
        return  # done, or superseded (revoked meanwhile)
    claim = claim_resource(resource_id, operation, last_attempt=last_attempt)
    if claim is None:
        _not_runnable(credential.pk, operation)
        return
    resource = claim.resource
    action = f"credential.{operation}"
    try:
        adapter = resource.provider.adapter()
        if operation == Operation.ISSUE:
            login = Login(credential.login, credential.secret["password"],
                          Access(credential.access), credential.expires_at)
            issued = adapter.add_login(resource.backend_name, login)
        else:
            adapter.remove_login(resource.backend_name, credential.login)
            issued = None
    except ProviderError as exc:
        if exc.transient and not claim.last_attempt:
            record_outcome(claim, lambda resource: None, finished=False)
            metrics.provider_operation(resource, operation, "retry")
            raise RetryLater(exc.message, attempt=claim.resource.attempts) from None
        message = failures.log_failure(f"{action} of credential {credential.pk} failed",
                                       exc.message)
        record_outcome(claim, lambda resource: _failed(credential.pk, actor, action, message))
        metrics.provider_operation(resource, operation, "failure")
        return
    record_outcome(claim, lambda resource: _succeeded(credential.pk, operation, issued, actor))
    metrics.provider_operation(resource, operation, "success")


def sweep_credentials(timeout: float | None = None) -> int:
    """Revoke the credentials past their expiry, and queue again the runs of those left
    issuing or revoking for ``timeout`` seconds (default ``RM_OPERATION_TIMEOUT``).
    Returns how many were queued."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.RM_OPERATION_TIMEOUT if timeout is None
                             else timeout)
    expired = Credential.objects.filter(status=Status.ACTIVE, expires_at__lte=now)
    stuck = Credential.objects.filter(status__in=list(_WANTED.values()), updated_at__lt=cutoff)
    queued = 0
    for credential_id in [*expired.values_list("pk", flat=True),
                          *stuck.values_list("pk", flat=True)]:
        queued += _queue_again(credential_id, now, cutoff)
    if queued:
        logger.info("queued %d credential operation(s)", queued)
    return queued


def audit_credential(
    actor: str, action: str, outcome: str, credential: Credential, message: str = ""
) -> None:
    """The audit entry of an action on ``credential`` (never its secret)."""
    record(actor, action, outcome, scope=credential.scope, target=credential,
           message=message or f"{credential.access} for {credential.holder}")


def _queue_again(credential_id: object, now: datetime, cutoff: datetime) -> int:
    with transaction.atomic():
        credential = (Credential.objects.select_for_update().select_related("resource")
                      .filter(pk=credential_id).first())
        if credential is None:
            return 0
        if credential.status == Status.ACTIVE and credential.expires_at is not None \
                and credential.expires_at <= now:
            credential.status = Status.REVOKING
            credential.save(update_fields=["status", "updated_at"])
            audit_credential(SYSTEM.name, "credential.expire", Outcome.ACCEPTED, credential)
        elif credential.status in _WANTED.values() and credential.updated_at < cutoff:
            credential.save(update_fields=["updated_at"])
        else:
            return 0  # it moved on since the query
        operation = Operation.ISSUE if credential.status == Status.ISSUING else Operation.REVOKE
        relay.enqueue_credential_operation(credential.resource, credential.pk, operation,
                                           SYSTEM.name)
    return 1


def _succeeded(credential_id: object, operation: Operation, issued: Credentials | None,
               actor: str) -> None:
    credential = Credential.objects.select_for_update().get(pk=credential_id)
    if credential.status != _WANTED[operation]:
        return  # revoked meanwhile: its REVOKE runs next and drops the login
    if operation == Operation.ISSUE:
        credential.status, credential.secret = Status.ACTIVE, issued.as_dict()
    else:
        credential.status, credential.revoked_at = Status.REVOKED, timezone.now()
    credential.status_message = ""
    credential.save()
    audit_credential(actor, f"credential.{operation}", Outcome.SUCCESS, credential)


def _failed(credential_id: object, actor: str, action: str, message: str) -> None:
    """Keep the detail for operators; the audit trail, which tenants read, gets what a
    tenant may read of it."""
    credential = (Credential.objects.select_for_update().select_related("resource__provider")
                  .get(pk=credential_id))
    credential.status, credential.status_message = Status.ERROR, message
    credential.save(update_fields=["status", "status_message", "updated_at"])
    audit_credential(actor, action, Outcome.FAILURE, credential,
                     failures.tenant_message(message, credential.resource.provider))


def _not_runnable(credential_id: object, operation: Operation) -> None:
    """The resource no longer wants the operation: a deletion revokes the credential (its
    login goes with the resource); other states leave it in error, to be revoked."""
    with transaction.atomic():
        credential = Credential.objects.select_for_update().select_related("resource").get(
            pk=credential_id)
        resource_status = credential.resource.status
        if credential.status != _WANTED[operation] or resource_status in (
                Resource.Status.DELETING, Resource.Status.DELETED):
            return
        credential.status = Status.ERROR
        credential.status_message = f"the resource is {resource_status}"
        credential.save(update_fields=["status", "status_message", "updated_at"])
