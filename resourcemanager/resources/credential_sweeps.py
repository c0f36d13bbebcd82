"""The credentials' scheduled work: expired ones revoked, replaced logins dropped once
their grace is over, scheduled rotations started, and runs that were lost queued again.

Each credential is decided on under its row lock, in a transaction of its own, so that a
request or run that moved it on meanwhile wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEntry
from resourcemanager.core.errors import Conflict
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.outbox import relay
from resourcemanager.resources.credential_runs import (
    STATUS_WANTS,
    audit_credential,
    due_logins,
)
from resourcemanager.resources.credentials import start_rotation
from resourcemanager.resources.models import Credential
from resourcemanager.resources.operations import Operation, locked_resource

logger = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome
Status = Credential.Status


def sweep_credentials(timeout: float | None = None) -> int:
    """Queue what is due: REVOKE past expiry, RETIRE past grace, ROTATE on schedule, and
    again the runs left issuing, rotating or revoking for ``timeout`` seconds (default
    ``RM_OPERATION_TIMEOUT``). Returns how many runs were queued."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.RM_OPERATION_TIMEOUT if timeout is None
                             else timeout)
    work: list[tuple[Callable[[Credential, datetime, datetime], Operation | None], Q]] = [
        (_expire, Q(status=Status.ACTIVE, expires_at__lte=now)),
        (_retire, Q(retire_at__lte=now) & ~Q(status__in=[Status.REVOKING, Status.REVOKED])),
        (_rotate, Q(status=Status.ACTIVE, next_rotation_at__lte=now)),
        (_requeue, Q(status__in=list(STATUS_WANTS), updated_at__lt=cutoff)),
    ]
    queued = 0
    for decide, due in work:
        for credential_id in Credential.objects.filter(due).values_list("pk", flat=True):
            queued += _queue(credential_id, decide, now, cutoff)
    if queued:
        logger.info("queued %d credential operation(s)", queued)
    return queued


def _queue(credential_id: object, decide: Callable[[Credential, datetime, datetime],
           Operation | None], now: datetime, cutoff: datetime) -> int:
    resource_id = (Credential.objects.filter(pk=credential_id)
                   .values_list("resource_id", flat=True).first())
    if resource_id is None:
        return 0
    with transaction.atomic():
        locked_resource(resource_id)  # first, in the order the runs lock them
        credential = (Credential.objects.select_for_update().select_related("resource")
                      .filter(pk=credential_id).first())
        operation = None if credential is None else decide(credential, now, cutoff)
        if operation is None:
            return 0  # it moved on since the query
        relay.enqueue_credential_operation(credential.resource, credential.pk, operation,
                                           SYSTEM.name)
    return 1


def _expire(credential: Credential, now: datetime, cutoff: datetime) -> Operation | None:
    if credential.status != Status.ACTIVE or credential.expires_at is None \
            or credential.expires_at > now:
        return None
    credential.status = Status.REVOKING
    credential.save(update_fields=["status", "updated_at"])
    audit_credential(SYSTEM.name, "credential.expire", Outcome.ACCEPTED, credential)
    return Operation.REVOKE


def _retire(credential: Credential, now: datetime, cutoff: datetime) -> Operation | None:
    if credential.status in (Status.REVOKING, Status.REVOKED):
        return None
    return Operation.RETIRE if due_logins(credential, now) else None


def _rotate(credential: Credential, now: datetime, cutoff: datetime) -> Operation | None:
    if credential.status != Status.ACTIVE or credential.next_rotation_at is None \
            or credential.next_rotation_at > now:
        return None
    try:
        start_rotation(credential, settings.RM_CREDENTIAL_ROTATION_GRACE)
    except Conflict as refusal:  # its resource is not ready: the next sweep tries again
        logger.info("scheduled rotation of credential %s waits: %s", credential.pk, refusal)
        return None
    audit_credential(SYSTEM.name, "credential.rotate", Outcome.ACCEPTED, credential,
                     "scheduled")
    return Operation.ROTATE


def _requeue(credential: Credential, now: datetime, cutoff: datetime) -> Operation | None:
    operation = STATUS_WANTS.get(credential.status)
    if operation is None or credential.updated_at >= cutoff:
        return None
    credential.save(update_fields=["updated_at"])
    return operation
